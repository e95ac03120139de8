using System.Globalization;
using System.Runtime.InteropServices;
using SqueezeNative.BindGen.Clang;

namespace SqueezeNative.BindGen;

/// <summary>
/// Parses a C header with libclang into a <see cref="HeaderModel"/>. Only declarations spelled in
/// the header itself are read; what it includes (stddef.h, stdint.h) only resolves types.
/// Anything the bindings cannot represent faithfully is an error naming the declaration, never
/// silently skipped.
/// </summary>
public static unsafe class HeaderParser
{
    // Typedef names that must stay pointer-sized in C# rather than resolve to the target's long.
    private static readonly Dictionary<string, PrimitiveKind> PointerSizedTypedefs = new(StringComparer.Ordinal)
    {
        ["size_t"] = PrimitiveKind.NUInt,
        ["uintptr_t"] = PrimitiveKind.NUInt,
        ["ptrdiff_t"] = PrimitiveKind.NInt,
        ["intptr_t"] = PrimitiveKind.NInt,
        ["ssize_t"] = PrimitiveKind.NInt,
    };

    /// <summary>Parses <paramref name="headerPath"/>; <paramref name="displayPath"/> is how generated code names it.</summary>
    /// <exception cref="BindGenException">The header is missing, does not parse, or declares something unbindable.</exception>
    public static HeaderModel Parse(string headerPath, string displayPath)
    {
        if (!File.Exists(headerPath))
            throw new BindGenException($"{headerPath}: header not found.");

        var index = LibClang.CreateIndex(excludeDeclarationsFromPch: 0, displayDiagnostics: 0);
        if (index == nint.Zero)
            throw new BindGenException("libclang could not create an index (clang_createIndex returned NULL).");
        try
        {
            var translationUnit = ParseTranslationUnit(index, headerPath);
            try
            {
                ThrowOnErrors(translationUnit, headerPath);
                var headerLines = File.ReadAllLines(headerPath);
                return new Reader(translationUnit, headerPath, headerLines).Read(displayPath);
            }
            finally
            {
                LibClang.DisposeTranslationUnit(translationUnit);
            }
        }
        finally
        {
            LibClang.DisposeIndex(index);
        }
    }

    /// <summary>The clang command line: C11, plus GCC's builtin headers as a last resort (see below).</summary>
    public static IReadOnlyList<string> ClangArguments()
    {
        var arguments = new List<string> { "-x", "c", "-std=c11" };
        // libclang finds its own stddef.h in its resource directory, which Debian ships in
        // libclang-common-N-dev, not in libclang1-N. -idirafter makes GCC's copy a fallback that
        // is searched only when clang's is absent, so the parse does not depend on that package.
        var gccInclude = GccBuiltinIncludeDirectory();
        if (gccInclude is not null)
        {
            arguments.Add("-idirafter");
            arguments.Add(gccInclude);
        }
        return arguments;
    }

    private static string? GccBuiltinIncludeDirectory()
    {
        const string gccRoot = "/usr/lib/gcc";
        if (!Directory.Exists(gccRoot))
            return null;
        return Directory.EnumerateDirectories(gccRoot)
            .SelectMany(Directory.EnumerateDirectories)
            .Select(versionDirectory => Path.Combine(versionDirectory, "include"))
            .Where(include => File.Exists(Path.Combine(include, "stddef.h")))
            .OrderByDescending(include => int.TryParse(Path.GetFileName(Path.GetDirectoryName(include)), out var major) ? major : 0)
            .ThenBy(include => include, StringComparer.Ordinal)
            .FirstOrDefault();
    }

    private static nint ParseTranslationUnit(nint index, string headerPath)
    {
        var arguments = ClangArguments();
        var utf8Arguments = arguments.Select(argument => Marshal.StringToCoTaskMemUTF8(argument)).ToArray();
        var path = Marshal.StringToCoTaskMemUTF8(headerPath);
        try
        {
            fixed (nint* argv = utf8Arguments)
            {
                var error = LibClang.ParseTranslationUnit2(index, (byte*)path, (byte**)argv, utf8Arguments.Length,
                    nint.Zero, 0, LibClang.DetailedPreprocessingRecord, out var translationUnit);
                if (error != CXErrorCode.Success || translationUnit == nint.Zero)
                    throw new BindGenException($"{headerPath}: libclang could not parse the header (clang_parseTranslationUnit2 returned {error}; arguments: {string.Join(' ', arguments)}).");
                return translationUnit;
            }
        }
        finally
        {
            Marshal.FreeCoTaskMem(path);
            foreach (var argument in utf8Arguments)
                Marshal.FreeCoTaskMem(argument);
        }
    }

    private static void ThrowOnErrors(nint translationUnit, string headerPath)
    {
        var errors = new List<string>();
        var count = LibClang.GetNumDiagnostics(translationUnit);
        var displayOptions = LibClang.DefaultDiagnosticDisplayOptions();
        for (uint i = 0; i < count; i++)
        {
            var diagnostic = LibClang.GetDiagnostic(translationUnit, i);
            try
            {
                if (LibClang.GetDiagnosticSeverity(diagnostic) >= CXDiagnosticSeverity.Error)
                    errors.Add(LibClang.Consume(LibClang.FormatDiagnostic(diagnostic, displayOptions)));
            }
            finally
            {
                LibClang.DisposeDiagnostic(diagnostic);
            }
        }
        if (errors.Count > 0)
            throw new BindGenException($"{headerPath}: the header does not parse ({errors.Count} error(s)):" +
                                       string.Concat(errors.Select(error => "\n  " + error)));
    }

    /// <summary>Walks one translation unit; holds the state of a single Parse call.</summary>
    private sealed class Reader(nint translationUnit, string headerPath, string[] headerLines)
    {
        private readonly List<ConstantModel> _constants = [];
        private readonly List<EnumModel> _enums = [];
        private readonly List<StructModel> _structs = [];
        private readonly List<string> _declaredRecords = [];
        private readonly List<FunctionModel> _functions = [];
        // Doc comments of `typedef struct x x;` / `typedef enum x {...} x;`, by name, as a fallback for
        // the tag declaration (clang attaches a comment to whichever declaration it precedes).
        private readonly Dictionary<string, string> _typedefDocs = new(StringComparer.Ordinal);

        public HeaderModel Read(string displayPath)
        {
            var topLevel = LibClang.Children(LibClang.GetTranslationUnitCursor(translationUnit))
                .Where(IsInHeader)
                .ToList();

            foreach (var cursor in topLevel.Where(c => c.Kind == CXCursorKind.TypedefDecl))
            {
                var doc = DocOf(cursor);
                if (doc is not null)
                    _typedefDocs[Spelling(cursor)] = doc;
            }

            foreach (var cursor in topLevel)
            {
                switch (cursor.Kind)
                {
                    case CXCursorKind.MacroDefinition:
                        ReadMacro(cursor);
                        break;
                    case CXCursorKind.EnumDecl when LibClang.IsCursorDefinition(cursor) != 0:
                        ReadEnum(cursor);
                        break;
                    case CXCursorKind.StructDecl:
                        ReadStruct(cursor);
                        break;
                    case CXCursorKind.FunctionDecl:
                        ReadFunction(cursor);
                        break;
                    case CXCursorKind.UnionDecl:
                        throw Unsupported(cursor, "unions are not supported by the bindings");
                    case CXCursorKind.VarDecl:
                        throw Unsupported(cursor, "global variables are not supported by the bindings; export a function instead");
                }
            }

            var defined = _structs.Select(s => s.CName).ToHashSet(StringComparer.Ordinal);
            var opaque = _declaredRecords.Distinct(StringComparer.Ordinal)
                .Where(name => !defined.Contains(name))
                .Select(name => new OpaqueTypeModel(name, _typedefDocs.GetValueOrDefault(name)))
                .ToList();
            return new HeaderModel(displayPath, _constants, _enums, _structs, opaque, _functions);
        }

        private static bool IsInHeader(CXCursor cursor) =>
            LibClang.LocationIsFromMainFile(LibClang.GetCursorLocation(cursor)) != 0;

        // ---- #define NAME <integer literal> ----------------------------------------------------

        private void ReadMacro(CXCursor cursor)
        {
            if (LibClang.CursorIsMacroFunctionLike(cursor) != 0)
                return;
            var tokens = TokensOf(cursor);
            // tokens[0] is the macro's own name; a guard (#define X) or an attribute macro is not a constant.
            var body = string.Concat(tokens.Skip(1));
            if (!TryParseIntegerLiteral(body, out var value, out var type))
                return;
            _constants.Add(new ConstantModel(Spelling(cursor), value, type, MacroDoc(cursor)));
        }

        private List<string> TokensOf(CXCursor cursor)
        {
            LibClang.Tokenize(translationUnit, LibClang.GetCursorExtent(cursor), out var tokens, out var count);
            try
            {
                var spellings = new List<string>((int)count);
                for (var i = 0; i < count; i++)
                    spellings.Add(LibClang.Consume(LibClang.GetTokenSpelling(translationUnit, tokens[i])));
                return spellings;
            }
            finally
            {
                if (tokens != null)
                    LibClang.DisposeTokens(translationUnit, tokens, count);
            }
        }

        /// <summary>
        /// Accepts what a simple constant macro body looks like: an optional sign, a decimal or hex
        /// literal with u/l suffixes, optionally parenthesised. Anything else is not evaluated.
        /// </summary>
        internal static bool TryParseIntegerLiteral(string body, out long value, out PrimitiveKind type)
        {
            value = 0;
            type = PrimitiveKind.Int32;
            var text = body.Trim();
            while (text.Length >= 2 && text[0] == '(' && text[^1] == ')')
                text = text[1..^1].Trim();
            var negative = text.StartsWith('-');
            if (negative || text.StartsWith('+'))
                text = text[1..].Trim();
            var digitsEnd = text.Length;
            while (digitsEnd > 0 && "uUlL".Contains(text[digitsEnd - 1]))
                digitsEnd--;
            var suffix = text[digitsEnd..];
            var digits = text[..digitsEnd];
            if (digits.Length == 0 || suffix.Length > 3)
                return false;
            ulong magnitude = 0;
            var parsed = digits.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? ulong.TryParse(digits.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out magnitude)
                : IsDecimal(digits) && ulong.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out magnitude);
            if (!parsed || magnitude > long.MaxValue)
                return false;
            value = negative ? -(long)magnitude : (long)magnitude;
            var isUnsigned = suffix.Contains('u', StringComparison.OrdinalIgnoreCase);
            if (isUnsigned && negative)
                return false;
            type = (isUnsigned, value) switch
            {
                (true, <= uint.MaxValue) => PrimitiveKind.UInt32,
                (true, _) => PrimitiveKind.UInt64,
                (false, >= int.MinValue and <= int.MaxValue) => PrimitiveKind.Int32,
                _ => PrimitiveKind.Int64,
            };
            return true;
        }

        // Octal literals (a leading 0) are rare in APIs and easy to misread, so they are not evaluated.
        private static bool IsDecimal(string digits) => digits.All(char.IsAsciiDigit) && (digits == "0" || digits[0] != '0');

        // clang attaches doc comments to declarations, not to macros, so a macro's /** */ block is
        // found in the text: the comment that ends on the line right above the #define.
        private string? MacroDoc(CXCursor cursor)
        {
            LibClang.GetFileLocation(LibClang.GetCursorLocation(cursor), out _, out var line, out _, out _);
            var end = (int)line - 2; // 0-based index of the line above the #define
            if (end < 0 || !headerLines[end].TrimEnd().EndsWith("*/", StringComparison.Ordinal))
                return null;
            var start = end;
            while (start >= 0 && !headerLines[start].Contains("/*", StringComparison.Ordinal))
                start--;
            if (start < 0 || !headerLines[start].TrimStart().StartsWith("/**", StringComparison.Ordinal))
                return null;
            return DocComment.Clean(string.Join('\n', headerLines[start..(end + 1)]));
        }

        // ---- enums -------------------------------------------------------------------------------

        private void ReadEnum(CXCursor cursor)
        {
            var name = TagName(cursor, "enum");
            var underlying = Primitive(LibClang.GetEnumDeclIntegerType(cursor), $"enum {name}");
            var isUnsigned = underlying is PrimitiveKind.UInt8 or PrimitiveKind.UInt16 or PrimitiveKind.UInt32 or PrimitiveKind.UInt64;
            var members = new List<EnumMemberModel>();
            foreach (var constant in LibClang.Children(cursor).Where(c => c.Kind == CXCursorKind.EnumConstantDecl))
            {
                long value;
                if (isUnsigned)
                {
                    var unsignedValue = LibClang.GetEnumConstantDeclUnsignedValue(constant);
                    if (unsignedValue > long.MaxValue)
                        throw Unsupported(constant, $"enumerator value {unsignedValue} does not fit in a 64-bit signed integer");
                    value = (long)unsignedValue;
                }
                else
                {
                    value = LibClang.GetEnumConstantDeclValue(constant);
                }
                members.Add(new EnumMemberModel(Spelling(constant), value, DocOf(constant)));
            }
            if (members.Count == 0)
                throw Unsupported(cursor, "an enum without enumerators cannot be bound");
            _enums.Add(new EnumModel(name, underlying, members, DocOf(cursor) ?? _typedefDocs.GetValueOrDefault(name)));
        }

        // ---- structs -----------------------------------------------------------------------------

        private void ReadStruct(CXCursor cursor)
        {
            var name = TagName(cursor, "struct");
            if (LibClang.IsCursorDefinition(cursor) == 0)
            {
                _declaredRecords.Add(name);
                return;
            }
            var type = LibClang.GetCursorType(cursor);
            var fields = new List<FieldModel>();
            foreach (var child in LibClang.Children(cursor))
            {
                if (child.Kind != CXCursorKind.FieldDecl)
                    throw Unsupported(child, $"struct {name} may contain only plain fields (nested records are not supported)");
                var fieldName = Spelling(child);
                if (LibClang.CursorIsBitField(child) != 0)
                    throw Unsupported(child, $"bit-field {name}.{fieldName} is not supported");
                var offsetBits = LibClang.CursorGetOffsetOfField(child);
                if (offsetBits < 0)
                    throw Unsupported(child, $"libclang could not compute the offset of {name}.{fieldName} (error {offsetBits})");
                var fieldType = Resolve(LibClang.GetCursorType(child), $"field {name}.{fieldName}");
                if (fieldType is ArrayTypeRef array)
                    fieldType = array with { LengthConstant = ArrayLengthConstant(child, array.Length) };
                fields.Add(new FieldModel(fieldName, fieldType, offsetBits / 8, DocOf(child)));
            }
            _structs.Add(new StructModel(name, LibClang.TypeGetSizeOf(type), LibClang.TypeGetAlignOf(type), fields,
                DocOf(cursor) ?? _typedefDocs.GetValueOrDefault(name)));
        }

        // `int64_t dims[SN_MAX_DIMS]`: when the length is spelled as one of the header's integer
        // constants, the C# keeps that link (fixed long Dims[NativeConstants.MaxDims]).
        private string? ArrayLengthConstant(CXCursor field, long length)
        {
            var tokens = TokensOf(field);
            var open = tokens.IndexOf("[");
            if (open < 0 || open + 2 >= tokens.Count || tokens[open + 2] != "]")
                return null;
            var constant = _constants.FirstOrDefault(c => c.CName == tokens[open + 1]);
            return constant is not null && constant.Value == length ? constant.CName : null;
        }

        // ---- functions ---------------------------------------------------------------------------

        private void ReadFunction(CXCursor cursor)
        {
            var name = Spelling(cursor);
            var functionType = LibClang.GetCursorType(cursor);
            if (LibClang.IsCursorDefinition(cursor) != 0)
                throw Unsupported(cursor, $"{name} has a body in the header; only exported declarations can be bound");
            if (functionType.Kind == CXTypeKind.FunctionNoProto)
                throw Unsupported(cursor, $"{name} has no prototype; declare an empty parameter list as ({name}(void))");
            if (LibClang.IsFunctionTypeVariadic(functionType) != 0)
                throw Unsupported(cursor, $"{name} is variadic");

            var returnType = Resolve(LibClang.GetCursorResultType(cursor), $"the return type of {name}");
            var parameters = new List<ParameterModel>();
            var count = LibClang.CursorGetNumArguments(cursor);
            for (var i = 0; i < count; i++)
            {
                var argument = LibClang.CursorGetArgument(cursor, (uint)i);
                var parameterName = Spelling(argument);
                if (parameterName.Length == 0)
                    throw Unsupported(cursor, $"parameter {i + 1} of {name} has no name; the bindings use the header's parameter names");
                parameters.Add(new ParameterModel(parameterName,
                    Resolve(LibClang.GetCursorType(argument), $"parameter '{parameterName}' of {name}")));
            }
            _functions.Add(new FunctionModel(name, returnType, parameters, DocOf(cursor)));
        }

        // ---- types -------------------------------------------------------------------------------

        private CTypeRef Resolve(CXType type, string where)
        {
            switch (type.Kind)
            {
                case CXTypeKind.Elaborated:
                    return Resolve(LibClang.TypeGetNamedType(type), where);
                case CXTypeKind.Typedef:
                {
                    var declaration = LibClang.GetTypeDeclaration(type);
                    if (PointerSizedTypedefs.TryGetValue(Spelling(declaration), out var pointerSized))
                        return new PrimitiveTypeRef(pointerSized);
                    return Resolve(LibClang.GetTypedefDeclUnderlyingType(declaration), where);
                }
                case CXTypeKind.Void:
                    return new VoidTypeRef();
                case CXTypeKind.Enum:
                    return new EnumTypeRef(TagName(LibClang.GetTypeDeclaration(type), "enum"));
                case CXTypeKind.Record:
                {
                    var declaration = LibClang.GetTypeDeclaration(type);
                    if (declaration.Kind == CXCursorKind.UnionDecl)
                        throw new BindGenException($"{headerPath}: {where}: unions are not supported by the bindings.");
                    var name = TagName(declaration, "struct");
                    var isDefined = LibClang.CursorIsNull(LibClang.GetCursorDefinition(declaration)) == 0;
                    return isDefined ? new StructTypeRef(name) : new OpaqueTypeRef(name);
                }
                case CXTypeKind.Pointer:
                {
                    var pointee = LibClang.GetPointeeType(type);
                    var isConst = LibClang.IsConstQualifiedType(pointee) != 0;
                    var canonicalPointee = LibClang.GetCanonicalType(pointee);
                    if (canonicalPointee.Kind is CXTypeKind.FunctionProto or CXTypeKind.FunctionNoProto)
                        throw new BindGenException($"{headerPath}: {where}: function pointers ({TypeSpelling(type)}) are not supported by the bindings.");
                    return new PointerTypeRef(Resolve(pointee, where), isConst);
                }
                case CXTypeKind.ConstantArray:
                    return new ArrayTypeRef(Resolve(LibClang.GetArrayElementType(type), where), LibClang.GetArraySize(type));
                default:
                    return new PrimitiveTypeRef(Primitive(type, where));
            }
        }

        private PrimitiveKind Primitive(CXType type, string where)
        {
            var canonical = LibClang.GetCanonicalType(type);
            var size = LibClang.TypeGetSizeOf(canonical);
            PrimitiveKind? kind = canonical.Kind switch
            {
                CXTypeKind.CharS or CXTypeKind.CharU => PrimitiveKind.Char,
                CXTypeKind.SChar or CXTypeKind.Short or CXTypeKind.Int or CXTypeKind.Long or CXTypeKind.LongLong => size switch
                {
                    1 => PrimitiveKind.Int8,
                    2 => PrimitiveKind.Int16,
                    4 => PrimitiveKind.Int32,
                    8 => PrimitiveKind.Int64,
                    _ => null,
                },
                CXTypeKind.UChar or CXTypeKind.UShort or CXTypeKind.UInt or CXTypeKind.ULong or CXTypeKind.ULongLong => size switch
                {
                    1 => PrimitiveKind.UInt8,
                    2 => PrimitiveKind.UInt16,
                    4 => PrimitiveKind.UInt32,
                    8 => PrimitiveKind.UInt64,
                    _ => null,
                },
                CXTypeKind.Float => PrimitiveKind.Float32,
                CXTypeKind.Double => PrimitiveKind.Float64,
                _ => null,
            };
            return kind ?? throw new BindGenException(
                $"{headerPath}: {where}: type '{TypeSpelling(type)}' is not supported by the bindings (use a fixed-width integer, float, double, an enum, a struct or a pointer).");
        }

        // ---- helpers -----------------------------------------------------------------------------

        private string TagName(CXCursor declaration, string what)
        {
            var name = Spelling(declaration);
            if (LibClang.CursorIsAnonymous(declaration) != 0 || name.Length == 0 || name.Contains(' '))
                throw Unsupported(declaration, $"anonymous {what}s are not supported; give the {what} a tag name (typedef {what} name {{...}} name;)");
            return name;
        }

        private static string Spelling(CXCursor cursor) => LibClang.Consume(LibClang.GetCursorSpelling(cursor));

        private static string TypeSpelling(CXType type) => LibClang.Consume(LibClang.GetTypeSpelling(type));

        private static string? DocOf(CXCursor cursor) => DocComment.Clean(LibClang.Consume(LibClang.CursorGetRawCommentText(cursor)));

        private BindGenException Unsupported(CXCursor cursor, string reason)
        {
            LibClang.GetFileLocation(LibClang.GetCursorLocation(cursor), out _, out var line, out var column, out _);
            return new BindGenException($"{headerPath}:{line}:{column}: {reason}.");
        }
    }
}
