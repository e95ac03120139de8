using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace SqueezeNative.Generators;

/// <summary>What a ModelConfig property can contribute to an expression.</summary>
internal enum ConfigValueKind
{
    Int,
    Bool,
}

/// <summary>
/// The little expression language of architecture descriptions, parsed at compile time and
/// translated to C# over a <c>config</c> variable of type ModelConfig.
/// <code>
/// or      := and ('||' and)*
/// and     := equal ('&amp;&amp;' equal)*
/// equal   := compare (('==' | '!=') compare)*
/// compare := sum (('&lt;' | '&lt;=' | '&gt;' | '&gt;=') sum)*
/// sum     := product (('+' | '-') product)*
/// product := unary (('*' | '/') unary)*
/// unary   := '!' unary | primary
/// primary := integer | identifier | '(' or ')'
/// </code>
/// One grammar serves shapes (which must type as int) and conditions (which must type as
/// bool), so "(A + B) != C" parses without guessing which kind a parenthesis opens. Integer
/// arithmetic is emitted in long so that products like vocab × hidden never overflow.
/// </summary>
internal static class ConfigExpression
{
    /// <summary>The outcome of compiling one expression: C# code, or what is wrong with it.</summary>
    internal readonly struct Result
    {
        private Result(string? code, string? negatedCode, string? negatedText, string? error, string? unknownName)
        {
            Code = code;
            NegatedCode = negatedCode;
            NegatedText = negatedText;
            Error = error;
            UnknownName = unknownName;
        }

        /// <summary>The C# expression, when the text is valid.</summary>
        public string? Code { get; }

        /// <summary>For a condition: its negation, written without a double negative.</summary>
        public string? NegatedCode { get; }

        /// <summary>For a condition: its negation in the description's own notation (for docs).</summary>
        public string? NegatedText { get; }

        /// <summary>A syntax or type error, worded to follow "is not a valid expression: ".</summary>
        public string? Error { get; }

        /// <summary>An identifier that names no usable property.</summary>
        public string? UnknownName { get; }

        public static Result Success(string code, string negatedCode, string negatedText) => new(code, negatedCode, negatedText, null, null);

        public static Result Invalid(string error) => new(null, null, null, error, null);

        public static Result Unknown(string name) => new(null, null, null, null, name);
    }

    /// <summary>
    /// Parses <paramref name="text"/>, resolves its identifiers in <paramref name="properties"/>,
    /// checks that it types as <paramref name="expected"/>, and translates it to C#.
    /// </summary>
    public static Result Compile(string text, ConfigValueKind expected, IReadOnlyDictionary<string, ConfigValueKind> properties)
    {
        Node root;
        try
        {
            root = new Parser(text).ParseWhole();
        }
        catch (SyntaxError error)
        {
            return Result.Invalid(error.Message);
        }

        var unknown = FindUnknownIdentifier(root, properties);
        if (unknown is not null)
            return Result.Unknown(unknown);

        var typeError = CheckTypes(root, properties, out var kind);
        if (typeError is null && kind != expected)
        {
            typeError = expected == ConfigValueKind.Int
                ? "a shape dimension must be an integer expression, not a condition"
                : "a condition must be a boolean expression; compare integers with == or !=";
        }
        if (typeError is not null)
            return Result.Invalid(typeError);

        var negated = Negate(root);
        return Result.Success(Emit(root, text, properties, csharp: true), Emit(negated, text, properties, csharp: true),
            Emit(negated, text, properties, csharp: false));
    }

    /// <summary>
    /// The logical negation of a bool-typed tree: "!A" gives "A", "A == B" gives "A != B",
    /// otherwise "!(...)". Used where the generated code needs "the condition is false".
    /// </summary>
    private static Node Negate(Node node) => node switch
    {
        Not not => not.Operand,
        Binary { Operator: "==" } b => new Binary("!=", b.Left, b.Right),
        Binary { Operator: "!=" } b => new Binary("==", b.Left, b.Right),
        Binary { Operator: "<" } b => new Binary(">=", b.Left, b.Right),
        Binary { Operator: "<=" } b => new Binary(">", b.Left, b.Right),
        Binary { Operator: ">" } b => new Binary("<=", b.Left, b.Right),
        Binary { Operator: ">=" } b => new Binary("<", b.Left, b.Right),
        _ => new Not(node),
    };

    // ---- syntax tree -------------------------------------------------------------------------

    private abstract class Node
    {
    }

    private sealed class Literal(long value) : Node
    {
        public long Value { get; } = value;
    }

    private sealed class Identifier(string name) : Node
    {
        public string Name { get; } = name;
    }

    private sealed class Not(Node operand) : Node
    {
        public Node Operand { get; } = operand;
    }

    private sealed class Binary(string op, Node left, Node right) : Node
    {
        public string Operator { get; } = op;
        public Node Left { get; } = left;
        public Node Right { get; } = right;
    }

    private sealed class SyntaxError(string message) : Exception(message);

    // Binding strength, as in C#, so that the emitted code needs parentheses exactly where the
    // description had them.
    private static int Precedence(string op) => op switch
    {
        "||" => 1,
        "&&" => 2,
        "==" or "!=" => 3,
        "<" or "<=" or ">" or ">=" => 4,
        "+" or "-" => 5,
        "*" or "/" => 6,
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, "not a binary operator"),
    };

    private const int UnaryPrecedence = 7;
    private const int PrimaryPrecedence = 8;

    private static readonly string[][] OperatorsByPrecedence =
    [
        ["||"],
        ["&&"],
        ["==", "!="],
        ["<", "<=", ">", ">="],
        ["+", "-"],
        ["*", "/"],
    ];

    // ---- parsing -----------------------------------------------------------------------------

    private sealed class Parser
    {
        private readonly string _text;
        private readonly List<(string Token, int Position)> _tokens;
        private int _next;

        public Parser(string text)
        {
            _text = text;
            _tokens = Tokenize(text);
        }

        public Node ParseWhole()
        {
            if (_tokens.Count == 0)
                throw new SyntaxError("the expression is empty");
            var node = ParseLevel(0);
            if (_next < _tokens.Count)
                throw new SyntaxError($"unexpected '{_tokens[_next].Token}' at position {_tokens[_next].Position + 1}");
            return node;
        }

        private Node ParseLevel(int level)
        {
            if (level == OperatorsByPrecedence.Length)
                return ParseUnary();
            var left = ParseLevel(level + 1);
            while (_next < _tokens.Count && Array.IndexOf(OperatorsByPrecedence[level], _tokens[_next].Token) >= 0)
            {
                var op = _tokens[_next++].Token;
                var right = ParseLevel(level + 1);
                left = new Binary(op, left, right);
            }
            return left;
        }

        private Node ParseUnary()
        {
            if (_next < _tokens.Count && _tokens[_next].Token == "!")
            {
                _next++;
                return new Not(ParseUnary());
            }
            return ParsePrimary();
        }

        private Node ParsePrimary()
        {
            if (_next >= _tokens.Count)
                throw new SyntaxError($"an operand is missing at the end of \"{_text}\"");
            var (token, position) = _tokens[_next++];
            if (token == "(")
            {
                var inner = ParseLevel(0);
                if (_next >= _tokens.Count || _tokens[_next].Token != ")")
                    throw new SyntaxError($"the '(' at position {position + 1} is not closed");
                _next++;
                return inner;
            }
            if (char.IsDigit(token[0]))
            {
                if (!long.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
                    throw new SyntaxError($"the integer {token} is too large");
                return new Literal(value);
            }
            if (IsIdentifierStart(token[0]))
                return new Identifier(token);
            throw new SyntaxError($"expected an operand at position {position + 1}, found '{token}'");
        }

        private static List<(string, int)> Tokenize(string text)
        {
            var tokens = new List<(string, int)>();
            int i = 0;
            while (i < text.Length)
            {
                char c = text[i];
                if (char.IsWhiteSpace(c))
                {
                    i++;
                    continue;
                }
                int start = i;
                if (IsIdentifierStart(c))
                {
                    while (i < text.Length && (IsIdentifierStart(text[i]) || char.IsDigit(text[i])))
                        i++;
                }
                else if (char.IsDigit(c))
                {
                    while (i < text.Length && char.IsDigit(text[i]))
                        i++;
                    if (i < text.Length && IsIdentifierStart(text[i]))
                        throw new SyntaxError($"'{text.Substring(start, i - start + 1)}' at position {start + 1} is neither a number nor a name");
                }
                else if (i + 1 < text.Length && IsTwoCharOperator(text.Substring(i, 2)))
                {
                    i += 2;
                }
                else if ("+-*/()!<>".IndexOf(c) >= 0)
                {
                    i++;
                }
                else
                {
                    throw new SyntaxError($"unexpected character '{c}' at position {i + 1}");
                }
                tokens.Add((text.Substring(start, i - start), start));
            }
            return tokens;
        }

        private static bool IsTwoCharOperator(string s) => s is "&&" or "||" or "==" or "!=" or "<=" or ">=";

        private static bool IsIdentifierStart(char c) => c == '_' || char.IsLetter(c);
    }

    // ---- checking ----------------------------------------------------------------------------

    private static string? FindUnknownIdentifier(Node node, IReadOnlyDictionary<string, ConfigValueKind> properties) => node switch
    {
        Identifier id => properties.ContainsKey(id.Name) ? null : id.Name,
        Not not => FindUnknownIdentifier(not.Operand, properties),
        Binary binary => FindUnknownIdentifier(binary.Left, properties) ?? FindUnknownIdentifier(binary.Right, properties),
        _ => null,
    };

    private static string? CheckTypes(Node node, IReadOnlyDictionary<string, ConfigValueKind> properties, out ConfigValueKind kind)
    {
        switch (node)
        {
            case Literal:
                kind = ConfigValueKind.Int;
                return null;
            case Identifier id:
                kind = properties[id.Name];
                return null;
            case Not not:
            {
                kind = ConfigValueKind.Bool;
                var error = CheckTypes(not.Operand, properties, out var operand);
                if (error is null && operand != ConfigValueKind.Bool)
                    error = $"'!' needs a bool operand, not the integer {Describe(not.Operand)}";
                return error;
            }
            case Binary binary:
            {
                var leftError = CheckTypes(binary.Left, properties, out var left);
                var rightError = CheckTypes(binary.Right, properties, out var right);
                if ((leftError ?? rightError) is { } operandError)
                {
                    kind = ConfigValueKind.Int;
                    return operandError;
                }
                switch (binary.Operator)
                {
                    case "&&" or "||":
                        kind = ConfigValueKind.Bool;
                        return left == ConfigValueKind.Bool && right == ConfigValueKind.Bool
                            ? null
                            : $"'{binary.Operator}' needs bool operands";
                    case "==" or "!=":
                        kind = ConfigValueKind.Bool;
                        return left == right ? null : $"'{binary.Operator}' compares an integer with a bool";
                    case "<" or "<=" or ">" or ">=":
                        kind = ConfigValueKind.Bool;
                        return left == ConfigValueKind.Int && right == ConfigValueKind.Int
                            ? null
                            : $"'{binary.Operator}' needs integer operands";
                    default:
                        kind = ConfigValueKind.Int;
                        return left == ConfigValueKind.Int && right == ConfigValueKind.Int
                            ? null
                            : $"'{binary.Operator}' needs integer operands";
                }
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(node));
        }
    }

    private static string Describe(Node node) => node switch
    {
        Identifier id => id.Name,
        Literal literal => literal.Value.ToString(CultureInfo.InvariantCulture),
        _ => "expression",
    };

    // ---- emitting ----------------------------------------------------------------------------

    private const string DivideHelper = "global::SqueezeNative.Runtime.Architectures.TensorValidation.Divide";

    /// <summary>Writes the tree as C# over <c>config</c>, or (<paramref name="csharp"/> false) in description notation.</summary>
    private static string Emit(Node root, string text, IReadOnlyDictionary<string, ConfigValueKind> properties, bool csharp)
    {
        var builder = new StringBuilder();
        new Writer(builder, text, properties, csharp).Write(root);
        return builder.ToString();
    }

    private sealed class Writer(StringBuilder builder, string text, IReadOnlyDictionary<string, ConfigValueKind> properties, bool csharp)
    {
        public void Write(Node node)
        {
            switch (node)
            {
                case Literal literal:
                    builder.Append(literal.Value.ToString(CultureInfo.InvariantCulture));
                    if (csharp)
                        builder.Append('L');
                    break;
                case Identifier id when !csharp:
                    builder.Append(id.Name);
                    break;
                case Identifier id:
                    builder.Append(properties[id.Name] == ConfigValueKind.Int ? "(long)config." : "config.").Append(id.Name);
                    break;
                case Not not:
                    builder.Append('!');
                    WriteOperand(not.Operand, UnaryPrecedence, rightSide: false);
                    break;
                case Binary { Operator: "/" } division when csharp:
                    builder.Append(DivideHelper).Append('(');
                    Write(division.Left);
                    builder.Append(", ");
                    Write(division.Right);
                    builder.Append(", ").Append(SymbolDisplay.FormatLiteral(text.Trim(), quote: true)).Append(", config)");
                    break;
                case Binary binary:
                {
                    int precedence = Precedence(binary.Operator);
                    WriteOperand(binary.Left, precedence, rightSide: false);
                    builder.Append(' ').Append(binary.Operator).Append(' ');
                    WriteOperand(binary.Right, precedence, rightSide: true);
                    break;
                }
            }
        }

        private int PrecedenceOf(Node node) => node switch
        {
            // The division helper call is primary.
            Binary { Operator: "/" } when csharp => PrimaryPrecedence,
            Binary binary => Precedence(binary.Operator),
            Not => UnaryPrecedence,
            // A cast "(long)config.X" binds like a unary operator.
            Identifier when csharp => UnaryPrecedence,
            _ => PrimaryPrecedence,
        };

        private void WriteOperand(Node operand, int parentPrecedence, bool rightSide)
        {
            // Every binary operator here is left-associative, so a right operand of equal binding
            // strength keeps its parentheses: a - (b - c) must not become a - b - c.
            int precedence = PrecedenceOf(operand);
            bool parenthesize = rightSide ? precedence <= parentPrecedence : precedence < parentPrecedence;
            if (parenthesize)
                builder.Append('(');
            Write(operand);
            if (parenthesize)
                builder.Append(')');
        }
    }
}
