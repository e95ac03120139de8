namespace SqueezeNative.Generators.Tests;

/// <summary>The shape and condition language, compiled to C# directly.</summary>
public sealed class ConfigExpressionTests
{
    private static readonly Dictionary<string, ConfigValueKind> Properties = new()
    {
        ["HiddenSize"] = ConfigValueKind.Int,
        ["NumHeads"] = ConfigValueKind.Int,
        ["HeadDim"] = ConfigValueKind.Int,
        ["TieWordEmbeddings"] = ConfigValueKind.Bool,
        ["EnableBias"] = ConfigValueKind.Bool,
    };

    [Theory]
    [InlineData("HiddenSize", "(long)config.HiddenSize")]
    [InlineData(" NumHeads*HeadDim ", "(long)config.NumHeads * (long)config.HeadDim")]
    [InlineData("HiddenSize + 2", "(long)config.HiddenSize + 2L")]
    [InlineData("(HiddenSize + 2) * 3", "((long)config.HiddenSize + 2L) * 3L")]
    [InlineData("HiddenSize - (NumHeads - 1)", "(long)config.HiddenSize - ((long)config.NumHeads - 1L)")]
    [InlineData("(HiddenSize - NumHeads) - 1", "(long)config.HiddenSize - (long)config.NumHeads - 1L")]
    [InlineData("HiddenSize / NumHeads * 2",
        "global::SqueezeNative.Runtime.Architectures.TensorValidation.Divide((long)config.HiddenSize, (long)config.NumHeads, \"HiddenSize / NumHeads * 2\", config) * 2L")]
    public void ShapeCompilesToLongArithmetic(string text, string expected)
    {
        var result = ConfigExpression.Compile(text, ConfigValueKind.Int, Properties);

        Assert.Null(result.Error);
        Assert.Null(result.UnknownName);
        Assert.Equal(expected, result.Code);
    }

    [Theory]
    [InlineData("EnableBias", "config.EnableBias", "!config.EnableBias", "!EnableBias")]
    [InlineData("!TieWordEmbeddings", "!config.TieWordEmbeddings", "config.TieWordEmbeddings", "TieWordEmbeddings")]
    [InlineData("!(EnableBias || TieWordEmbeddings)", "!(config.EnableBias || config.TieWordEmbeddings)",
        "config.EnableBias || config.TieWordEmbeddings", "EnableBias || TieWordEmbeddings")]
    [InlineData("EnableBias && !TieWordEmbeddings || HiddenSize > 0", "config.EnableBias && !config.TieWordEmbeddings || (long)config.HiddenSize > 0L",
        "!(config.EnableBias && !config.TieWordEmbeddings || (long)config.HiddenSize > 0L)", "!(EnableBias && !TieWordEmbeddings || HiddenSize > 0)")]
    [InlineData("EnableBias && (TieWordEmbeddings || EnableBias)", "config.EnableBias && (config.TieWordEmbeddings || config.EnableBias)",
        "!(config.EnableBias && (config.TieWordEmbeddings || config.EnableBias))", "!(EnableBias && (TieWordEmbeddings || EnableBias))")]
    [InlineData("HiddenSize != NumHeads * HeadDim", "(long)config.HiddenSize != (long)config.NumHeads * (long)config.HeadDim",
        "(long)config.HiddenSize == (long)config.NumHeads * (long)config.HeadDim", "HiddenSize == NumHeads * HeadDim")]
    [InlineData("HiddenSize >= 64", "(long)config.HiddenSize >= 64L", "(long)config.HiddenSize < 64L", "HiddenSize < 64")]
    [InlineData("EnableBias == TieWordEmbeddings", "config.EnableBias == config.TieWordEmbeddings",
        "config.EnableBias != config.TieWordEmbeddings", "EnableBias != TieWordEmbeddings")]
    public void ConditionCompilesWithItsNegation(string text, string expected, string negated, string negatedText)
    {
        var result = ConfigExpression.Compile(text, ConfigValueKind.Bool, Properties);

        Assert.Null(result.Error);
        Assert.Equal(expected, result.Code);
        Assert.Equal(negated, result.NegatedCode);
        Assert.Equal(negatedText, result.NegatedText);
    }

    [Theory]
    [InlineData("", false, "the expression is empty")]
    [InlineData("HiddenSize +", false, "an operand is missing at the end of \"HiddenSize +\"")]
    [InlineData("(HiddenSize", false, "the '(' at position 1 is not closed")]
    [InlineData("HiddenSize NumHeads", false, "unexpected 'NumHeads' at position 12")]
    [InlineData("2x", false, "'2x' at position 1 is neither a number nor a name")]
    [InlineData("HiddenSize % 2", false, "unexpected character '%' at position 12")]
    [InlineData("99999999999999999999", false, "the integer 99999999999999999999 is too large")]
    [InlineData("HiddenSize > 2", false, "a shape dimension must be an integer expression, not a condition")]
    [InlineData("HiddenSize", true, "a condition must be a boolean expression; compare integers with == or !=")]
    [InlineData("!HiddenSize", true, "'!' needs a bool operand, not the integer HiddenSize")]
    [InlineData("EnableBias + 1", false, "'+' needs integer operands")]
    [InlineData("EnableBias == 1", true, "'==' compares an integer with a bool")]
    [InlineData("EnableBias && HiddenSize", true, "'&&' needs bool operands")]
    public void MalformedExpressionIsExplained(string text, bool asCondition, string error)
    {
        var result = ConfigExpression.Compile(text, asCondition ? ConfigValueKind.Bool : ConfigValueKind.Int, Properties);

        Assert.Null(result.Code);
        Assert.Equal(error, result.Error);
    }

    [Fact]
    public void UnknownIdentifierIsNamed()
    {
        var result = ConfigExpression.Compile("HiddenSize * NumKvHeads", ConfigValueKind.Int, Properties);

        Assert.Null(result.Code);
        Assert.Equal("NumKvHeads", result.UnknownName);
    }
}
