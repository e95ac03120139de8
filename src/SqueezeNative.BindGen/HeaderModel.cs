namespace SqueezeNative.BindGen;

// What the parser reads from the header, as plain values (no libclang handles), in header order.
// The emitter works from this alone, and tests inspect it to compare the generated C# with C.

/// <summary>Everything the bindings are generated from.</summary>
/// <param name="HeaderDisplayPath">The header as named in generated comments (repository-relative, '/' separators).</param>
public sealed record HeaderModel(
    string HeaderDisplayPath,
    IReadOnlyList<ConstantModel> Constants,
    IReadOnlyList<EnumModel> Enums,
    IReadOnlyList<StructModel> Structs,
    IReadOnlyList<OpaqueTypeModel> OpaqueTypes,
    IReadOnlyList<FunctionModel> Functions);

/// <summary>An object-like <c>#define NAME integer-literal</c>.</summary>
public sealed record ConstantModel(string CName, long Value, PrimitiveKind Type, string? Doc);

/// <summary>A C enum; <see cref="Underlying"/> is the integer type clang chose for it.</summary>
public sealed record EnumModel(string CName, PrimitiveKind Underlying, IReadOnlyList<EnumMemberModel> Members, string? Doc);

/// <summary>One enumerator. Unsigned values above long.MaxValue are not supported (the parser rejects them).</summary>
public sealed record EnumMemberModel(string CName, long Value, string? Doc);

/// <summary>A defined C struct with its C layout as clang computed it for the target.</summary>
public sealed record StructModel(string CName, long SizeBytes, long AlignmentBytes, IReadOnlyList<FieldModel> Fields, string? Doc);

/// <summary>A struct field; <see cref="OffsetBytes"/> is clang's offset in the C struct.</summary>
public sealed record FieldModel(string CName, CTypeRef Type, long OffsetBytes, string? Doc);

/// <summary>A struct that the header declares but never defines: reached only through pointers (a handle).</summary>
public sealed record OpaqueTypeModel(string CName, string? Doc);

/// <summary>An exported function.</summary>
public sealed record FunctionModel(string CName, CTypeRef ReturnType, IReadOnlyList<ParameterModel> Parameters, string? Doc);

/// <summary>A function parameter.</summary>
public sealed record ParameterModel(string CName, CTypeRef Type);

/// <summary>C scalar types, by meaning (sizes resolved for the parsed target).</summary>
public enum PrimitiveKind
{
    Int8,
    UInt8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    /// <summary>size_t / uintptr_t: pointer-sized unsigned.</summary>
    NUInt,
    /// <summary>ptrdiff_t / intptr_t / ssize_t: pointer-sized signed.</summary>
    NInt,
    Float32,
    Float64,
    /// <summary>Plain <c>char</c>: only meaningful behind a pointer (a C string).</summary>
    Char,
}

/// <summary>A C type as far as the bindings care; typedefs other than the pointer-sized ones are resolved away.</summary>
public abstract record CTypeRef
{
    /// <summary>The type spelled roughly as C would, for error messages.</summary>
    public abstract string CSpelling { get; }
}

public sealed record VoidTypeRef : CTypeRef
{
    public override string CSpelling => "void";
}

public sealed record PrimitiveTypeRef(PrimitiveKind Kind) : CTypeRef
{
    public override string CSpelling => Kind.ToString();
}

public sealed record EnumTypeRef(string CName) : CTypeRef
{
    public override string CSpelling => CName;
}

public sealed record StructTypeRef(string CName) : CTypeRef
{
    public override string CSpelling => CName;
}

public sealed record OpaqueTypeRef(string CName) : CTypeRef
{
    public override string CSpelling => CName;
}

public sealed record PointerTypeRef(CTypeRef Pointee, bool PointeeIsConst) : CTypeRef
{
    public override string CSpelling => (PointeeIsConst ? "const " : "") + Pointee.CSpelling + "*";
}

/// <summary>A fixed-length array; <see cref="LengthConstant"/> is the #define that spells the length in the header, if any.</summary>
public sealed record ArrayTypeRef(CTypeRef Element, long Length, string? LengthConstant = null) : CTypeRef
{
    public override string CSpelling => $"{Element.CSpelling}[{Length}]";
}
