using System.Reflection;
using System.Runtime.InteropServices;

namespace SqueezeNative.BindGen.Clang;

// The subset of libclang's stable C API (clang-c/Index.h, unchanged since LLVM 3.x for what we
// use) that the header parser needs. Layouts and enum values are those of Index.h; only the
// values we read are listed.

internal enum CXCursorKind
{
    StructDecl = 2,
    UnionDecl = 3,
    EnumDecl = 5,
    FieldDecl = 6,
    EnumConstantDecl = 7,
    FunctionDecl = 8,
    VarDecl = 9,
    ParmDecl = 10,
    TypedefDecl = 20,
    MacroDefinition = 501,
    MacroExpansion = 502,
    InclusionDirective = 503,
}

internal enum CXTypeKind
{
    Invalid = 0,
    Void = 2,
    Bool = 3,
    CharU = 4,
    UChar = 5,
    UShort = 8,
    UInt = 9,
    ULong = 10,
    ULongLong = 11,
    CharS = 13,
    SChar = 14,
    Short = 16,
    Int = 17,
    Long = 18,
    LongLong = 19,
    Float = 21,
    Double = 22,
    Pointer = 101,
    Record = 105,
    Enum = 106,
    Typedef = 107,
    FunctionNoProto = 110,
    FunctionProto = 111,
    ConstantArray = 112,
    IncompleteArray = 114,
    Elaborated = 119,
}

internal enum CXChildVisitResult
{
    Break = 0,
    Continue = 1,
    Recurse = 2,
}

internal enum CXDiagnosticSeverity
{
    Ignored = 0,
    Note = 1,
    Warning = 2,
    Error = 3,
    Fatal = 4,
}

internal enum CXErrorCode
{
    Success = 0,
    Failure = 1,
    Crashed = 2,
    InvalidArguments = 3,
    ASTReadError = 4,
}

internal enum CXTokenKind
{
    Punctuation = 0,
    Keyword = 1,
    Identifier = 2,
    Literal = 3,
    Comment = 4,
}

[StructLayout(LayoutKind.Sequential)]
internal struct CXCursor
{
    public CXCursorKind Kind;
    public int XData;
    public nint Data0, Data1, Data2;
}

[StructLayout(LayoutKind.Sequential)]
internal struct CXType
{
    public CXTypeKind Kind;
    public nint Data0, Data1;
}

[StructLayout(LayoutKind.Sequential)]
internal struct CXString
{
    public nint Data;
    public uint PrivateFlags;
}

[StructLayout(LayoutKind.Sequential)]
internal struct CXSourceLocation
{
    public nint PtrData0, PtrData1;
    public uint IntData;
}

[StructLayout(LayoutKind.Sequential)]
internal struct CXSourceRange
{
    public nint PtrData0, PtrData1;
    public uint BeginIntData, EndIntData;
}

[StructLayout(LayoutKind.Sequential)]
internal struct CXToken
{
    public uint IntData0, IntData1, IntData2, IntData3;
    public nint PtrData;
}

/// <summary>P/Invoke declarations for the distribution's libclang.</summary>
internal static unsafe partial class LibClang
{
    private const string LibraryName = "libclang";

    /// <summary>CXTranslationUnit_DetailedPreprocessingRecord: keep #define cursors so macros can be read.</summary>
    public const uint DetailedPreprocessingRecord = 0x01;

    // The resolver must be registered before the first P/Invoke; an explicit static constructor
    // guarantees it runs before any member of this class (and so any stub) executes.
    static LibClang() => NativeLibrary.SetDllImportResolver(typeof(LibClang).Assembly, LibClangResolver.Resolve);

    [LibraryImport(LibraryName, EntryPoint = "clang_createIndex")]
    public static partial nint CreateIndex(int excludeDeclarationsFromPch, int displayDiagnostics);

    [LibraryImport(LibraryName, EntryPoint = "clang_disposeIndex")]
    public static partial void DisposeIndex(nint index);

    [LibraryImport(LibraryName, EntryPoint = "clang_parseTranslationUnit2")]
    public static partial CXErrorCode ParseTranslationUnit2(nint index, byte* sourceFilename, byte** commandLineArgs,
        int numCommandLineArgs, nint unsavedFiles, uint numUnsavedFiles, uint options, out nint translationUnit);

    [LibraryImport(LibraryName, EntryPoint = "clang_disposeTranslationUnit")]
    public static partial void DisposeTranslationUnit(nint translationUnit);

    [LibraryImport(LibraryName, EntryPoint = "clang_getNumDiagnostics")]
    public static partial uint GetNumDiagnostics(nint translationUnit);

    [LibraryImport(LibraryName, EntryPoint = "clang_getDiagnostic")]
    public static partial nint GetDiagnostic(nint translationUnit, uint index);

    [LibraryImport(LibraryName, EntryPoint = "clang_disposeDiagnostic")]
    public static partial void DisposeDiagnostic(nint diagnostic);

    [LibraryImport(LibraryName, EntryPoint = "clang_getDiagnosticSeverity")]
    public static partial CXDiagnosticSeverity GetDiagnosticSeverity(nint diagnostic);

    [LibraryImport(LibraryName, EntryPoint = "clang_formatDiagnostic")]
    public static partial CXString FormatDiagnostic(nint diagnostic, uint options);

    [LibraryImport(LibraryName, EntryPoint = "clang_defaultDiagnosticDisplayOptions")]
    public static partial uint DefaultDiagnosticDisplayOptions();

    [LibraryImport(LibraryName, EntryPoint = "clang_getTranslationUnitCursor")]
    public static partial CXCursor GetTranslationUnitCursor(nint translationUnit);

    [LibraryImport(LibraryName, EntryPoint = "clang_visitChildren")]
    public static partial uint VisitChildren(CXCursor parent,
        delegate* unmanaged<CXCursor, CXCursor, nint, CXChildVisitResult> visitor, nint clientData);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCString")]
    public static partial byte* GetCString(CXString str);

    [LibraryImport(LibraryName, EntryPoint = "clang_disposeString")]
    public static partial void DisposeString(CXString str);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCursorSpelling")]
    public static partial CXString GetCursorSpelling(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCursorLocation")]
    public static partial CXSourceLocation GetCursorLocation(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCursorExtent")]
    public static partial CXSourceRange GetCursorExtent(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Location_isFromMainFile")]
    public static partial int LocationIsFromMainFile(CXSourceLocation location);

    [LibraryImport(LibraryName, EntryPoint = "clang_getFileLocation")]
    public static partial void GetFileLocation(CXSourceLocation location, out nint file, out uint line, out uint column, out uint offset);

    [LibraryImport(LibraryName, EntryPoint = "clang_getFileName")]
    public static partial CXString GetFileName(nint file);

    [LibraryImport(LibraryName, EntryPoint = "clang_isCursorDefinition")]
    public static partial uint IsCursorDefinition(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCursorDefinition")]
    public static partial CXCursor GetCursorDefinition(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_isNull")]
    public static partial int CursorIsNull(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_isAnonymous")]
    public static partial uint CursorIsAnonymous(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_getRawCommentText")]
    public static partial CXString CursorGetRawCommentText(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_isMacroFunctionLike")]
    public static partial uint CursorIsMacroFunctionLike(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCursorType")]
    public static partial CXType GetCursorType(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCursorResultType")]
    public static partial CXType GetCursorResultType(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_getNumArguments")]
    public static partial int CursorGetNumArguments(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_getArgument")]
    public static partial CXCursor CursorGetArgument(CXCursor cursor, uint index);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_isBitField")]
    public static partial uint CursorIsBitField(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_Cursor_getOffsetOfField")]
    public static partial long CursorGetOffsetOfField(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getEnumDeclIntegerType")]
    public static partial CXType GetEnumDeclIntegerType(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getEnumConstantDeclValue")]
    public static partial long GetEnumConstantDeclValue(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getEnumConstantDeclUnsignedValue")]
    public static partial ulong GetEnumConstantDeclUnsignedValue(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getTypedefDeclUnderlyingType")]
    public static partial CXType GetTypedefDeclUnderlyingType(CXCursor cursor);

    [LibraryImport(LibraryName, EntryPoint = "clang_getTypeSpelling")]
    public static partial CXString GetTypeSpelling(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_getCanonicalType")]
    public static partial CXType GetCanonicalType(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_Type_getNamedType")]
    public static partial CXType TypeGetNamedType(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_getPointeeType")]
    public static partial CXType GetPointeeType(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_isConstQualifiedType")]
    public static partial uint IsConstQualifiedType(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_Type_getSizeOf")]
    public static partial long TypeGetSizeOf(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_Type_getAlignOf")]
    public static partial long TypeGetAlignOf(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_getArrayElementType")]
    public static partial CXType GetArrayElementType(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_getArraySize")]
    public static partial long GetArraySize(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_getTypeDeclaration")]
    public static partial CXCursor GetTypeDeclaration(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_isFunctionTypeVariadic")]
    public static partial uint IsFunctionTypeVariadic(CXType type);

    [LibraryImport(LibraryName, EntryPoint = "clang_tokenize")]
    public static partial void Tokenize(nint translationUnit, CXSourceRange range, out CXToken* tokens, out uint numTokens);

    [LibraryImport(LibraryName, EntryPoint = "clang_disposeTokens")]
    public static partial void DisposeTokens(nint translationUnit, CXToken* tokens, uint numTokens);

    [LibraryImport(LibraryName, EntryPoint = "clang_getTokenSpelling")]
    public static partial CXString GetTokenSpelling(nint translationUnit, CXToken token);

    [LibraryImport(LibraryName, EntryPoint = "clang_getTokenKind")]
    public static partial CXTokenKind GetTokenKind(CXToken token);

    /// <summary>Copies a CXString into a managed string and disposes it.</summary>
    public static string Consume(CXString str)
    {
        try
        {
            return Marshal.PtrToStringUTF8((nint)GetCString(str)) ?? string.Empty;
        }
        finally
        {
            DisposeString(str);
        }
    }

    /// <summary>The direct children of <paramref name="parent"/>, in source order.</summary>
    public static List<CXCursor> Children(CXCursor parent)
    {
        var children = new List<CXCursor>();
        var handle = GCHandle.Alloc(children);
        try
        {
            VisitChildren(parent, &CollectChild, GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }
        return children;
    }

    [UnmanagedCallersOnly]
    private static CXChildVisitResult CollectChild(CXCursor cursor, CXCursor parent, nint clientData)
    {
        ((List<CXCursor>)GCHandle.FromIntPtr(clientData).Target!).Add(cursor);
        return CXChildVisitResult.Continue;
    }
}

/// <summary>
/// Finds the distribution's libclang. Debian/Ubuntu ship it as libclang-N.so.1 (package
/// libclang1-N) without an unversioned libclang.so unless the -dev package is installed, so the
/// default probing for "libclang" usually fails.
/// </summary>
internal static class LibClangResolver
{
    /// <summary>Environment variable naming an explicit libclang shared library to load.</summary>
    public const string OverrideVariable = "SQUEEZE_LIBCLANG";

    private static readonly string[] SearchDirectories = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"];

    public static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName != "libclang")
            return nint.Zero;
        return LoadFirst(Candidates(), candidate => NativeLibrary.TryLoad(candidate, out var handle) ? handle : null);
    }

    /// <summary>Loads the first candidate that loads; the error lists every candidate tried.</summary>
    internal static nint LoadFirst(IEnumerable<string> candidates, Func<string, nint?> tryLoad)
    {
        var tried = new List<string>();
        foreach (var candidate in candidates)
        {
            if (tryLoad(candidate) is { } handle)
                return handle;
            tried.Add(candidate);
        }
        throw new DllNotFoundException(
            "SqueezeNative.BindGen could not load libclang. Tried: " + string.Join(", ", tried) +
            $". Install the distribution package (e.g. `apt-get install libclang1-14`) or set {OverrideVariable} " +
            "to the path of a libclang shared library.");
    }

    /// <summary>Candidate names/paths in the order they are tried.</summary>
    internal static IEnumerable<string> Candidates()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
            yield return fromEnvironment;
        yield return "libclang-14.so.1";
        yield return "libclang.so.1";
        foreach (var path in VersionedLibraries())
            yield return path;
    }

    // libclang-*.so.1 in the multiarch directories and /usr/lib/llvm-*/lib, newest LLVM first.
    private static IEnumerable<string> VersionedLibraries()
    {
        var found = new List<string>();
        foreach (var directory in SearchDirectories.Where(Directory.Exists))
            found.AddRange(Directory.EnumerateFiles(directory, "libclang-*.so.1"));
        if (Directory.Exists("/usr/lib"))
        {
            foreach (var llvm in Directory.EnumerateDirectories("/usr/lib", "llvm-*"))
            {
                var lib = Path.Combine(llvm, "lib");
                if (Directory.Exists(lib))
                    found.AddRange(Directory.EnumerateFiles(lib, "libclang*.so.1"));
            }
        }
        return found.Distinct(StringComparer.Ordinal)
            .OrderByDescending(LlvmMajorVersion)
            .ThenBy(path => path, StringComparer.Ordinal);
    }

    private static int LlvmMajorVersion(string path)
    {
        var digits = new string(Path.GetFileName(path).SkipWhile(c => !char.IsDigit(c)).TakeWhile(char.IsDigit).ToArray());
        if (digits.Length == 0)
            digits = new string(path.Split('/').FirstOrDefault(part => part.StartsWith("llvm-", StringComparison.Ordinal))?
                .Skip("llvm-".Length).TakeWhile(char.IsDigit).ToArray() ?? []);
        return int.TryParse(digits, out var major) ? major : 0;
    }
}
