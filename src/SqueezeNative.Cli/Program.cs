using System.CommandLine;
using SqueezeNative.Cli.Commands;

namespace SqueezeNative.Cli;

/// <summary>The `squeeze` command: one subcommand per file in Commands/.</summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    /// <summary>The full command tree; tests invoke it in-process.</summary>
    public static RootCommand BuildRoot()
    {
        var root = new RootCommand("SqueezeNative: SqueezeLLM quantization and fast LUT inference of decoder LLMs.");
        root.Options.Add(CliCommon.VerboseOption);
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(TokenizeCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(EvalCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(VerifyCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        return root;
    }
}
