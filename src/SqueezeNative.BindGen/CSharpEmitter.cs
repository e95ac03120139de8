using System.Globalization;
using System.Text;

namespace SqueezeNative.BindGen;

/// <summary>
/// Writes the C# for a <see cref="HeaderModel"/>. Output depends on the model alone: declarations
/// in header order, "\n" line endings, no timestamps or machine paths, so regenerating an
/// unchanged header reproduces the checked-in files byte for byte.
/// </summary>
/// <remarks>
/// Mapping rules (the names follow <see cref="Naming"/>):
/// <list type="bullet">
/// <item>Enums keep clang's underlying type and values; #define integer literals become <c>NativeConstants</c>.</item>
/// <item>Defined structs become blittable sequential structs; fixed arrays become <c>fixed</c> buffers.</item>
/// <item>Opaque structs become sealed SafeHandles whose ReleaseHandle calls <c>&lt;type&gt;_destroy</c>; a
/// handle parameter takes the SafeHandle, <c>T**</c> becomes <c>out</c> SafeHandle, and the destroy function
/// itself takes the raw <c>nint</c> (only ReleaseHandle calls it).</item>
/// <item>A pointer parameter named <c>out_*</c> is a single <c>out</c> value, unless the function's comment
/// indexes it (<c>out_dims[</c>): then it is an array the caller provides and stays a raw pointer. A <c>const</c>
/// pointer to a struct is an <c>in</c> value; <c>const char*</c> is a UTF-8 string; other pointers stay raw (<c>void*</c>, <c>long*</c>).</item>
/// <item><c>const char*</c> results are library-owned: the import returns the raw pointer (<c>…Utf8</c>) and a
/// generated helper copies it into a string without freeing it.</item>
/// </list>
/// </remarks>
public sealed class CSharpEmitter
{
    /// <summary>Namespace of all generated declarations.</summary>
    public const string Namespace = "SqueezeNative.Bindings.Interop";

    /// <summary>Class holding the integer #define constants.</summary>
    public const string ConstantsClass = "NativeConstants";

    /// <summary>Class holding the imports.</summary>
    public const string MethodsClass = "NativeMethods";

    /// <summary>Hand-written constant holding the library name the imports bind to.</summary>
    public const string LibraryNameExpression = "NativeLibraryName.Value";

    private readonly HeaderModel _model;
    private readonly string _apiPrefix;
    private readonly Dictionary<string, EnumModel> _enums;
    private readonly Dictionary<string, StructModel> _structs;
    private readonly Dictionary<string, OpaqueTypeModel> _opaqueTypes;

    public CSharpEmitter(HeaderModel model)
    {
        _model = model;
        _apiPrefix = Naming.ApiPrefix(model.Functions.Select(f => f.CName)
            .Concat(model.Constants.Select(c => c.CName))
            .Concat(model.Enums.Select(e => e.CName))
            .Concat(model.Structs.Select(s => s.CName))
            .Concat(model.OpaqueTypes.Select(o => o.CName)));
        _enums = model.Enums.ToDictionary(e => e.CName, StringComparer.Ordinal);
        _structs = model.Structs.ToDictionary(s => s.CName, StringComparer.Ordinal);
        _opaqueTypes = model.OpaqueTypes.ToDictionary(o => o.CName, StringComparer.Ordinal);
    }

    /// <summary>File name → content, one file per kind of declaration.</summary>
    public IReadOnlyDictionary<string, string> Emit() => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["Enums.g.cs"] = EmitEnumsAndConstants(),
        ["Structs.g.cs"] = EmitStructs(),
        ["Handles.g.cs"] = EmitHandles(),
        ["NativeMethods.g.cs"] = EmitMethods(),
    };

    // ---- names ---------------------------------------------------------------------------------

    /// <summary>C# name of a C enum or struct type (sn_tensor_info → SnTensorInfo).</summary>
    public static string TypeName(string cName) => Naming.Pascal(cName);

    /// <summary>C# name of the SafeHandle of an opaque type (sn_context → SnContextHandle).</summary>
    public static string HandleName(string cName) => Naming.Pascal(cName) + "Handle";

    /// <summary>C# name of a function in NativeMethods (sn_tensor_create → TensorCreate).</summary>
    public string MethodName(string cName) => Naming.Pascal(Naming.WithoutPrefix(cName, _apiPrefix));

    /// <summary>C# name of a #define constant (SN_MAX_DIMS → MaxDims).</summary>
    public string ConstantName(string cName) => Naming.Pascal(Naming.WithoutPrefix(cName, _apiPrefix));

    /// <summary>C# names of an enum's members, in order.</summary>
    public static IReadOnlyList<string> MemberNames(EnumModel model)
    {
        var prefix = Naming.CommonMemberPrefix(model.Members.Select(m => m.CName).ToList());
        return model.Members.Select(m => Naming.Pascal(m.CName[prefix.Length..])).ToList();
    }

    /// <summary>Whether <paramref name="function"/> is the destroy function of an opaque type (its single parameter is that type).</summary>
    public static bool IsDestroyFunction(FunctionModel function, out string opaqueType)
    {
        opaqueType = "";
        if (!function.CName.EndsWith("_destroy", StringComparison.Ordinal) || function.Parameters.Count != 1)
            return false;
        if (function.Parameters[0].Type is not PointerTypeRef { Pointee: OpaqueTypeRef opaque, PointeeIsConst: false }
            || function.CName != opaque.CName + "_destroy")
            return false;
        opaqueType = opaque.CName;
        return true;
    }

    // ---- files ---------------------------------------------------------------------------------

    private string EmitEnumsAndConstants()
    {
        var w = NewFile();
        if (_model.Constants.Count > 0)
        {
            WriteDoc(w, $"Integer constants (<c>#define</c>) of {_model.HeaderDisplayPath}.");
            w.Line($"public static class {ConstantsClass}");
            w.Open();
            foreach (var constant in _model.Constants)
            {
                WriteDoc(w, constant.Doc, $"<c>{constant.CName}</c>");
                w.Line($"public const {PrimitiveName(constant.Type)} {ConstantName(constant.CName)} = {Literal(constant.Value, constant.Type)};");
            }
            w.Close();
        }
        foreach (var model in _model.Enums)
        {
            w.BlankLineBetween();
            WriteDoc(w, model.Doc, $"<c>{model.CName}</c>");
            w.Line($"public enum {TypeName(model.CName)} : {EnumUnderlyingName(model)}");
            w.Open();
            var names = MemberNames(model);
            EnsureUnique(names, $"enum {model.CName}");
            for (var i = 0; i < model.Members.Count; i++)
            {
                var member = model.Members[i];
                WriteDoc(w, member.Doc, $"<c>{member.CName}</c>");
                w.Line($"{names[i]} = {member.Value.ToString(CultureInfo.InvariantCulture)},");
            }
            w.Close();
        }
        return w.ToString();
    }

    private string EmitStructs()
    {
        var w = NewFile();
        foreach (var model in _model.Structs)
        {
            w.BlankLineBetween();
            var fields = model.Fields.Select(field => (field, code: FieldCode(model, field))).ToList();
            EnsureUnique(fields.Select(f => Naming.Pascal(f.field.CName)).ToList(), $"struct {model.CName}");
            WriteDoc(w, model.Doc, $"<c>{model.CName}</c> ({model.SizeBytes} bytes in C)");
            w.Line("[StructLayout(LayoutKind.Sequential)]");
            var isUnsafe = fields.Any(f => f.field.Type is ArrayTypeRef or PointerTypeRef);
            w.Line($"public {(isUnsafe ? "unsafe " : "")}partial struct {TypeName(model.CName)}");
            w.Open();
            foreach (var (field, code) in fields)
            {
                WriteDoc(w, field.Doc, $"<c>{field.CName}</c> (offset {field.OffsetBytes})");
                w.Line(code);
            }
            w.Close();
        }
        return w.ToString();
    }

    private string EmitHandles()
    {
        var w = NewFile();
        foreach (var opaque in _model.OpaqueTypes)
        {
            var destroy = _model.Functions.FirstOrDefault(f => IsDestroyFunction(f, out var type) && type == opaque.CName)
                ?? throw new BindGenException(
                    $"{_model.HeaderDisplayPath}: opaque type {opaque.CName} has no {opaque.CName}_destroy({opaque.CName}*) function; " +
                    "every handle type needs one so that its SafeHandle can release it.");
            var name = HandleName(opaque.CName);
            var release = destroy.ReturnType switch
            {
                VoidTypeRef => $"{{ {MethodsClass}.{MethodName(destroy.CName)}(handle); return true; }}",
                EnumTypeRef or PrimitiveTypeRef => $"=> {MethodsClass}.{MethodName(destroy.CName)}(handle) == 0;",
                _ => throw new BindGenException($"{_model.HeaderDisplayPath}: {destroy.CName} must return void or a status, not {destroy.ReturnType.CSpelling}."),
            };

            w.BlankLineBetween();
            WriteDoc(w, opaque.Doc, $"Owns a <c>{opaque.CName}*</c>.");
            w.Line($"/// <remarks>Owns a <c>{opaque.CName}*</c>: disposing it (or finalizing it undisposed) calls <c>{destroy.CName}</c>.</remarks>");
            w.Line($"public sealed partial class {name} : SafeHandle");
            w.Open();
            WriteDoc(w, "An invalid (NULL) handle; marshalling fills it from an out parameter.");
            w.Line($"public {name}() : base(nint.Zero, ownsHandle: true) {{ }}");
            w.Line("");
            WriteDoc(w, $"A new NULL handle, for an optional <c>{opaque.CName}*</c> argument (passes NULL).");
            w.Line($"public static {name} Null => new();");
            w.Line("");
            w.Line("/// <inheritdoc/>");
            w.Line("public override bool IsInvalid => handle == nint.Zero;");
            w.Line("");
            w.Line("/// <inheritdoc/>");
            w.Line($"protected override bool ReleaseHandle() {release}");
            w.Close();
        }
        return w.ToString();
    }

    private string EmitMethods()
    {
        var w = NewFile();
        WriteDoc(w, $"Imports of every function of {_model.HeaderDisplayPath}, in header order.");
        w.Line($"public static unsafe partial class {MethodsClass}");
        w.Open();
        var emittedNames = new List<string>();
        foreach (var function in _model.Functions)
        {
            w.BlankLineBetween();
            var name = MethodName(function.CName);
            var isDestroy = IsDestroyFunction(function, out _);
            var parameters = function.Parameters.Select(p => (parameter: p, code: ParameterCode(function, p, isDestroy))).ToList();
            var parameterList = string.Join(", ", parameters.Select(p => $"{p.code.Declaration} {Naming.Camel(p.parameter.CName)}"));

            WriteDoc(w, function.Doc, $"<c>{function.CName}</c>");
            w.Line($"[LibraryImport({LibraryNameExpression}, EntryPoint = \"{function.CName}\")]");
            if (function.ReturnType is PointerTypeRef { Pointee: PrimitiveTypeRef { Kind: PrimitiveKind.Char }, PointeeIsConst: true })
            {
                // Library-owned string: never let a marshaller free it.
                var rawName = name + "Utf8";
                w.Line($"public static partial nint {rawName}({parameterList});");
                w.Line("");
                WriteDoc(w, function.Doc, $"<c>{function.CName}</c>");
                w.Line($"/// <remarks>Copies the library-owned UTF-8 string returned by <c>{rawName}</c>.</remarks>");
                var arguments = string.Join(", ", parameters.Select(p => p.code.ArgumentModifier + Naming.Camel(p.parameter.CName)));
                w.Line($"public static string {name}({parameterList}) => Marshal.PtrToStringUTF8({rawName}({arguments})) ?? string.Empty;");
                emittedNames.Add(rawName);
            }
            else
            {
                w.Line($"public static partial {ReturnCode(function)} {name}({parameterList});");
            }
            emittedNames.Add(name);
        }
        w.Close();
        EnsureUnique(emittedNames, MethodsClass);
        return w.ToString();
    }

    // ---- type mapping --------------------------------------------------------------------------

    private readonly record struct ParameterMapping(string Declaration, string ArgumentModifier);

    private ParameterMapping ParameterCode(FunctionModel function, ParameterModel parameter, bool isDestroy)
    {
        // An out array bound as `out T` would let the callee write past a single value.
        var isOutArray = function.Doc?.Contains(parameter.CName + "[", StringComparison.Ordinal) == true;
        var isOut = parameter.CName.StartsWith("out_", StringComparison.Ordinal) && !isOutArray;
        switch (parameter.Type)
        {
            case PrimitiveTypeRef { Kind: not PrimitiveKind.Char } primitive:
                return new(PrimitiveName(primitive.Kind), "");
            case EnumTypeRef or StructTypeRef:
                return new(ValueTypeName(parameter.Type), "");
            case PointerTypeRef { Pointee: OpaqueTypeRef opaque }:
                return new(isDestroy ? "nint" : HandleName(Known(opaque)), "");
            case PointerTypeRef { Pointee: PointerTypeRef { Pointee: OpaqueTypeRef opaque, PointeeIsConst: false }, PointeeIsConst: false }:
                return new("out " + HandleName(Known(opaque)), "out ");
            case PointerTypeRef { Pointee: PrimitiveTypeRef { Kind: PrimitiveKind.Char }, PointeeIsConst: true }:
                return new("[MarshalAs(UnmanagedType.LPUTF8Str)] string", "");
            case PointerTypeRef { Pointee: VoidTypeRef }:
                return new("void*", "");
            case PointerTypeRef { Pointee: StructTypeRef or EnumTypeRef or PrimitiveTypeRef { Kind: not PrimitiveKind.Char } } pointer:
            {
                var target = ValueTypeName(pointer.Pointee);
                if (isOut && !pointer.PointeeIsConst)
                    return new("out " + target, "out ");
                if (pointer.Pointee is StructTypeRef && pointer.PointeeIsConst)
                    return new("in " + target, "in ");
                return new(target + "*", "");
            }
            default:
                throw new BindGenException(
                    $"{_model.HeaderDisplayPath}: {function.CName}: parameter '{parameter.CName}' of type {parameter.Type.CSpelling} has no binding rule.");
        }
    }

    private string ReturnCode(FunctionModel function) => function.ReturnType switch
    {
        VoidTypeRef => "void",
        PrimitiveTypeRef { Kind: not PrimitiveKind.Char } primitive => PrimitiveName(primitive.Kind),
        EnumTypeRef or StructTypeRef => ValueTypeName(function.ReturnType),
        _ => throw new BindGenException(
            $"{_model.HeaderDisplayPath}: {function.CName}: return type {function.ReturnType.CSpelling} has no binding rule " +
            "(return handles through T** out parameters and strings as const char*)."),
    };

    private string FieldCode(StructModel owner, FieldModel field)
    {
        var name = Naming.Pascal(field.CName);
        switch (field.Type)
        {
            case PrimitiveTypeRef { Kind: not PrimitiveKind.Char } primitive:
                return $"public {PrimitiveName(primitive.Kind)} {name};";
            case EnumTypeRef or StructTypeRef:
                return $"public {ValueTypeName(field.Type)} {name};";
            case ArrayTypeRef { Element: PrimitiveTypeRef { Kind: not PrimitiveKind.Char and not PrimitiveKind.NInt and not PrimitiveKind.NUInt } element } array:
            {
                // A fixed buffer's length must be an int constant; other constant types fall back to the literal.
                var lengthConstant = _model.Constants.FirstOrDefault(c => c.CName == array.LengthConstant && c.Type == PrimitiveKind.Int32);
                var length = lengthConstant is not null
                    ? $"{ConstantsClass}.{ConstantName(lengthConstant.CName)}"
                    : array.Length.ToString(CultureInfo.InvariantCulture);
                return $"public fixed {PrimitiveName(element.Kind)} {name}[{length}];";
            }
            case PointerTypeRef { Pointee: OpaqueTypeRef }:
                return $"public nint {name};";
            case PointerTypeRef { Pointee: VoidTypeRef }:
                return $"public void* {name};";
            case PointerTypeRef { Pointee: PrimitiveTypeRef or EnumTypeRef or StructTypeRef } pointer:
                return $"public {ValueTypeName(pointer.Pointee)}* {name};";
            default:
                throw new BindGenException(
                    $"{_model.HeaderDisplayPath}: field {owner.CName}.{field.CName} of type {field.Type.CSpelling} has no binding rule.");
        }
    }

    private string ValueTypeName(CTypeRef type) => type switch
    {
        EnumTypeRef e when _enums.ContainsKey(e.CName) => TypeName(e.CName),
        StructTypeRef s when _structs.ContainsKey(s.CName) => TypeName(s.CName),
        PrimitiveTypeRef { Kind: PrimitiveKind.Char } => "byte",
        PrimitiveTypeRef p => PrimitiveName(p.Kind),
        _ => throw new BindGenException($"{_model.HeaderDisplayPath}: type {type.CSpelling} is used but not declared in the header."),
    };

    private string Known(OpaqueTypeRef opaque) => _opaqueTypes.ContainsKey(opaque.CName)
        ? opaque.CName
        : throw new BindGenException($"{_model.HeaderDisplayPath}: opaque type {opaque.CName} is used but not declared in the header.");

    private static string EnumUnderlyingName(EnumModel model) => model.Underlying switch
    {
        PrimitiveKind.NInt or PrimitiveKind.NUInt or PrimitiveKind.Float32 or PrimitiveKind.Float64 or PrimitiveKind.Char =>
            throw new BindGenException($"enum {model.CName} has underlying type {model.Underlying}, which C# enums cannot have."),
        _ => PrimitiveName(model.Underlying),
    };

    private static string PrimitiveName(PrimitiveKind kind) => kind switch
    {
        PrimitiveKind.Int8 => "sbyte",
        PrimitiveKind.UInt8 => "byte",
        PrimitiveKind.Int16 => "short",
        PrimitiveKind.UInt16 => "ushort",
        PrimitiveKind.Int32 => "int",
        PrimitiveKind.UInt32 => "uint",
        PrimitiveKind.Int64 => "long",
        PrimitiveKind.UInt64 => "ulong",
        PrimitiveKind.NInt => "nint",
        PrimitiveKind.NUInt => "nuint",
        PrimitiveKind.Float32 => "float",
        PrimitiveKind.Float64 => "double",
        PrimitiveKind.Char => "byte",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static string Literal(long value, PrimitiveKind type)
    {
        var digits = value.ToString(CultureInfo.InvariantCulture);
        return type switch
        {
            PrimitiveKind.UInt32 => digits + "U",
            PrimitiveKind.UInt64 => digits + "UL",
            PrimitiveKind.Int64 => digits + "L",
            _ => digits,
        };
    }

    private void EnsureUnique(IReadOnlyList<string> names, string where)
    {
        var duplicate = names.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new BindGenException($"{_model.HeaderDisplayPath}: {where}: two declarations map to the C# name '{duplicate.Key}'.");
    }

    // ---- writing -------------------------------------------------------------------------------

    private CodeWriter NewFile()
    {
        var w = new CodeWriter();
        w.Line($"// <auto-generated> from {_model.HeaderDisplayPath} by SqueezeNative.BindGen — do not edit; run ./build.sh bindings");
        w.Line("#nullable enable");
        w.Line("using System;");
        w.Line("using System.Runtime.InteropServices;");
        w.Line("");
        w.Line($"namespace {Namespace};");
        w.Line("");
        return w;
    }

    /// <summary>Writes a summary from a header comment, or from <paramref name="fallback"/> (already XML) when there is none.</summary>
    private static void WriteDoc(CodeWriter w, string? doc, string fallback)
    {
        if (doc is null)
        {
            WriteDoc(w, fallback);
            return;
        }
        if (!doc.Contains('\n'))
        {
            w.Line($"/// <summary>{EscapeXml(doc)}</summary>");
            return;
        }
        w.Line("/// <summary>");
        foreach (var line in doc.Split('\n'))
            w.Line(line.Length == 0 ? "///" : "/// " + EscapeXml(line));
        w.Line("/// </summary>");
    }

    private static void WriteDoc(CodeWriter w, string xml) => w.Line($"/// <summary>{xml}</summary>");

    private static string EscapeXml(string text) =>
        text.Replace("&", "&amp;", StringComparison.Ordinal)
            .Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal);

    /// <summary>Indented, "\n"-terminated lines with a blank line between top-level declarations.</summary>
    private sealed class CodeWriter
    {
        private readonly StringBuilder _text = new();
        private int _indent;
        private bool _declarationWritten;

        public void Line(string line)
        {
            if (line.Length > 0)
                _text.Append(' ', 4 * _indent).Append(line);
            _text.Append('\n');
        }

        /// <summary>Separates the declaration about to start from the previous one at the same level.</summary>
        public void BlankLineBetween()
        {
            if (_declarationWritten)
                Line("");
            _declarationWritten = true;
        }

        public void Open()
        {
            Line("{");
            _indent++;
            _declarationWritten = false;
        }

        public void Close()
        {
            _indent--;
            Line("}");
            _declarationWritten = true;
        }

        public override string ToString() => _text.ToString();
    }
}
