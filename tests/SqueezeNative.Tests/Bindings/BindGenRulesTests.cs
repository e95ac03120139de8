using SqueezeNative.BindGen;

namespace SqueezeNative.Tests.Bindings;

/// <summary>The generator's rules on small synthetic headers: naming, mapping, and refusals.</summary>
public sealed class BindGenRulesTests
{
    private const string SampleHeader = """
        #include <stdint.h>
        #include <stddef.h>
        #include "other.h"

        /** Hex, unsigned. */
        #define XY_LIMIT 0x10u
        #define XY_NEGATIVE (-3)
        #define XY_BIG 5000000000
        #define XY_OCTAL 010
        #define XY_TWICE(x) ((x) * 2)
        #define XY_ATTRIBUTE __attribute__((unused))

        /** Colours, one negative. */
        typedef enum xy_color { XY_COLOR_RED = 0, XY_COLOR_DARK_BLUE = -2 } xy_color;

        /** A thing. */
        typedef struct xy_thing xy_thing;

        typedef struct xy_pair { uint8_t tag; double weights[XY_LIMIT]; const void* user; } xy_pair;

        /**
         * Opens a thing & reads <it>.
         *   indented line
         */
        int32_t xy_thing_open(const char* path, xy_pair pair, const xy_pair* options, xy_thing** out_thing);
        void xy_thing_destroy(xy_thing* thing);
        size_t xy_thing_read(xy_thing* thing, float* buffer, size_t count, int32_t* out_read);
        const char* xy_thing_name(const xy_thing* thing);
        """;

    private const string OtherHeader = """
        typedef enum zz_mode { ZZ_MODE_A = 1 } zz_mode;
        void zz_other(void);
        #define ZZ_VALUE 7
        """;

    private static (HeaderModel Model, IReadOnlyDictionary<string, string> Files) GenerateSample(TemporaryDirectory directory)
    {
        directory.Write("other.h", OtherHeader);
        var header = directory.Write("sample.h", SampleHeader);
        return (BindingGenerator.Parse(header), BindingGenerator.Generate(header));
    }

    [Fact]
    public void ReadsOnlyTheHeadersOwnDeclarations()
    {
        using var directory = new TemporaryDirectory();
        var (model, _) = GenerateSample(directory);
        Assert.Equal("sample.h", model.HeaderDisplayPath);
        Assert.Equal(["xy_color"], model.Enums.Select(e => e.CName).ToArray());
        Assert.Equal(["xy_thing_open", "xy_thing_destroy", "xy_thing_read", "xy_thing_name"], model.Functions.Select(f => f.CName).ToArray());
        Assert.Equal(["XY_LIMIT", "XY_NEGATIVE", "XY_BIG"], model.Constants.Select(c => c.CName).ToArray());
        Assert.Equal([16L, -3L, 5000000000L], model.Constants.Select(c => c.Value).ToArray());
        Assert.Equal([PrimitiveKind.UInt32, PrimitiveKind.Int32, PrimitiveKind.Int64], model.Constants.Select(c => c.Type).ToArray());
        Assert.Equal("Hex, unsigned.", model.Constants[0].Doc);
        Assert.Null(model.Constants[1].Doc);
    }

    [Fact]
    public void MapsTypesByTheDocumentedRules()
    {
        using var directory = new TemporaryDirectory();
        var (model, files) = GenerateSample(directory);

        var enums = files["Enums.g.cs"];
        Assert.Contains("    public const uint Limit = 16U;\n", enums);
        Assert.Contains("    public const int Negative = -3;\n", enums);
        Assert.Contains("    public const long Big = 5000000000L;\n", enums);
        Assert.Contains("public enum XyColor : int\n{\n    /// <summary><c>XY_COLOR_RED</c></summary>\n    Red = 0,\n", enums);
        Assert.Contains("    DarkBlue = -2,\n", enums);

        var pair = model.Structs.Single();
        Assert.Equal((144L, 8L), (pair.SizeBytes, pair.AlignmentBytes));
        Assert.Equal([0L, 8L, 136L], pair.Fields.Select(f => f.OffsetBytes).ToArray());
        var structs = files["Structs.g.cs"];
        Assert.Contains("public unsafe partial struct XyPair\n", structs);
        Assert.Contains("    public byte Tag;\n", structs);
        // XY_LIMIT is unsigned, and a fixed buffer length must be an int: the literal is used instead.
        Assert.Contains("    public fixed double Weights[16];\n", structs);
        Assert.Contains("    public void* User;\n", structs);

        var handles = files["Handles.g.cs"];
        Assert.Contains("public sealed partial class XyThingHandle : SafeHandle\n", handles);
        Assert.Contains("protected override bool ReleaseHandle() { NativeMethods.ThingDestroy(handle); return true; }\n", handles);

        var methods = files["NativeMethods.g.cs"];
        Assert.Contains("public static partial int ThingOpen([MarshalAs(UnmanagedType.LPUTF8Str)] string path, XyPair pair, in XyPair options, out XyThingHandle outThing);\n", methods);
        Assert.Contains("public static partial void ThingDestroy(nint thing);\n", methods);
        Assert.Contains("public static partial nuint ThingRead(XyThingHandle thing, float* buffer, nuint count, out int outRead);\n", methods);
        Assert.Contains("public static partial nint ThingNameUtf8(XyThingHandle thing);\n", methods);
        Assert.Contains("public static string ThingName(XyThingHandle thing) => Marshal.PtrToStringUTF8(ThingNameUtf8(thing)) ?? string.Empty;\n", methods);
        Assert.Contains(
            "    /// <summary>\n    /// Opens a thing &amp; reads &lt;it&gt;.\n    ///   indented line\n    /// </summary>\n", methods);
    }

    [Fact]
    public void AnOutParameterTheCommentIndexesIsAnArrayNotASingleValue()
    {
        using var directory = new TemporaryDirectory();
        var header = directory.Write("sample.h", """
            #include <stdint.h>
            /** Writes *out_ndim extents to out_dims[0 .. *out_ndim). */
            int32_t xy_shape(int32_t* out_ndim, int64_t* out_dims);
            """);
        var methods = BindingGenerator.Generate(header)["NativeMethods.g.cs"];
        // `out long` would hand the callee one long to write several into.
        Assert.Contains("public static partial int Shape(out int outNdim, long* outDims);\n", methods);
    }

    [Fact]
    public void ParseErrorsAreReportedWithClangDiagnostics()
    {
        using var directory = new TemporaryDirectory();
        var header = directory.Write("broken.h", "#include <stdint.h>\nint32_t xy_ok(void);\nint32_t xy_broken(int32_t value\n");
        var error = Assert.Throws<BindGenException>(() => BindingGenerator.Generate(header));
        Assert.Contains("broken.h: the header does not parse", error.Message);
        Assert.Contains("broken.h:3:", error.Message);
        Assert.Contains("error:", error.Message);
    }

    [Theory]
    [InlineData("typedef union xy_u { int a; float b; } xy_u;\n", "sample.h:1:", "unions are not supported")]
    [InlineData("int xy_values[4];\n", "sample.h:1:", "global variables are not supported")]
    [InlineData("int xy_log(const char* format, ...);\n", "sample.h:1:", "xy_log is variadic")]
    [InlineData("typedef void (*xy_callback)(int);\nint xy_register(xy_callback callback);\n", "sample.h", "function pointers")]
    [InlineData("typedef struct xy_h xy_h;\nint xy_h_create(xy_h** out_h);\n", "sample.h", "opaque type xy_h has no xy_h_destroy")]
    [InlineData("typedef struct xy_s { unsigned flag : 1; } xy_s;\n", "sample.h:1:", "bit-field xy_s.flag")]
    [InlineData("int xy_count();\n", "sample.h:1:", "xy_count has no prototype")]
    [InlineData("int xy_sum(int);\n", "sample.h:1:", "parameter 1 of xy_sum has no name")]
    [InlineData("typedef enum xy_e { XY_E_A = 1, XY_E_B = 2 } xy_e;\nint xy_set(xy_e* values);\nint xy_get(xy_e** values);\n", "sample.h", "parameter 'values' of type xy_e**")]
    public void RefusesWhatItCannotBindFaithfully(string header, string expectedLocation, string expectedReason)
    {
        using var directory = new TemporaryDirectory();
        var path = directory.Write("sample.h", header);
        var error = Assert.Throws<BindGenException>(() => BindingGenerator.Generate(path));
        Assert.Contains(expectedLocation, error.Message);
        Assert.Contains(expectedReason, error.Message);
    }

    [Fact]
    public void MissingHeaderIsAClearError()
    {
        var error = Assert.Throws<BindGenException>(() => BindingGenerator.Generate("/nonexistent/squeeze_native.h"));
        Assert.Equal("/nonexistent/squeeze_native.h: header not found.", error.Message);
    }

    [Theory]
    [InlineData(new[] { "SN_ERR_INVALID_ARGUMENT", "SN_OK" }, "SN_")]
    [InlineData(new[] { "SN_DTYPE_F32", "SN_DTYPE_F16", "SN_DTYPE_BF16" }, "SN_DTYPE_")]
    [InlineData(new[] { "SN_LEVEL_1", "SN_LEVEL_2" }, "SN_")]
    [InlineData(new[] { "SN_ONLY_ONE" }, "SN_ONLY_")]
    [InlineData(new[] { "A", "B" }, "")]
    public void EnumMemberPrefixIsTheSharedWholeSegments(string[] names, string expected) =>
        Assert.Equal(expected, Naming.CommonMemberPrefix(names));

    [Theory]
    [InlineData("sn_tensor_info", "SnTensorInfo")]
    [InlineData("SN_ERR_INVALID_ARGUMENT", "SnErrInvalidArgument")]
    [InlineData("BF16", "Bf16")]
    public void PascalCase(string cName, string expected) => Assert.Equal(expected, Naming.Pascal(cName));

    [Theory]
    [InlineData("out_context", "outContext")]
    [InlineData("base", "@base")]
    [InlineData("out", "@out")]
    [InlineData("k_cache", "kCache")]
    public void CamelCaseEscapesKeywords(string cName, string expected) => Assert.Equal(expected, Naming.Camel(cName));

    [Fact]
    public void DocCommentMarkersAreStripped()
    {
        Assert.Equal("Success.", DocComment.Clean("/** Success. */"));
        Assert.Equal("First line.\n  indented\nlast", DocComment.Clean("/**\n * First line.\n *   indented\n * last\n */"));
        Assert.Equal("Slash style.\nSecond.", DocComment.Clean("/// Slash style.\n/// Second."));
        Assert.Null(DocComment.Clean(""));
        Assert.Null(DocComment.Clean("/** */"));
    }
}
