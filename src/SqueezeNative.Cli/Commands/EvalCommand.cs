using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using SqueezeNative.Runtime.Evaluation;

namespace SqueezeNative.Cli.Commands;

/// <summary>`squeeze eval MODEL --dataset wikitext2|c4|ptb [--seqlen N] [--limit W]`: perplexity.</summary>
internal static class EvalCommand
{
    public static Command Create()
    {
        var model = ModelOptions.ModelArgument();
        var device = ModelOptions.DeviceOption();
        var threads = ModelOptions.ThreadsOption();
        var dataset = new Option<string>("--dataset", "-d") { Description = "wikitext2, c4 or ptb.", DefaultValueFactory = _ => "wikitext2" };
        var seqlen = new Option<int>("--seqlen") { Description = "Window length in tokens.", DefaultValueFactory = _ => 1024 };
        var limit = new Option<int?>("--limit") { Description = "Score only the first W windows." };
        var dataRoot = new Option<string?>("--data-root") { Description = "Folder holding data/wikitext2, data/c4, data/ptb (default: $SQUEEZE_SHARED or a nearby 'shared')." };

        var command = new Command("eval", "Perplexity with the GPTQ/SqueezeLLM protocol.")
        {
            model, device, threads, dataset, seqlen, limit, dataRoot,
        };
        command.SetAction((parse, ct) => CliCommon.RunAsync(parse, ct, (loggers, token) =>
        {
            var which = PerplexityDatasets.Parse(parse.GetValue(dataset)!);
            var shared = ModelOptions.LocateShared(parse.GetValue(dataRoot));
            using var lm = ModelOptions.Load(parse.GetValue(model)!, parse.GetValue(device)!, parse.GetValue(threads), loggers);
            var evaluator = new PerplexityEvaluator(lm, loggers.CreateLogger("eval"));
            var console = AnsiConsole.Create(new AnsiConsoleSettings
            {
                Out = new AnsiConsoleOutput(parse.InvocationConfiguration.Error),
            });
            PerplexityResult? result = null;
            var log = loggers.CreateLogger("eval");
            int lastDecile = 0;
            var run = () => evaluator.Evaluate(which, shared, parse.GetValue(seqlen), parse.GetValue(limit), (done, total) =>
            {
                // Without a terminal, log every 10 % so long runs in CI still show progress.
                int decile = done * 10 / total;
                if (decile > lastDecile) { lastDecile = decile; log.LogInformation("{Done}/{Total} windows", done, total); }
            }, token);
            if (console.Profile.Capabilities.Interactive)
            {
                console.Progress().Start(p =>
                {
                    var task = p.AddTask("windows");
                    result = evaluator.Evaluate(which, shared, parse.GetValue(seqlen), parse.GetValue(limit),
                        (done, total) => { task.MaxValue = total; task.Value = done; }, token);
                });
            }
            else
            {
                result = run();
            }
            var r = result!;
            var output = parse.InvocationConfiguration.Output;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Dataset} ppl {r.Perplexity:F4}  (seqlen {r.SeqLen}, {r.Windows} windows, {r.TokensScored} tokens scored, {r.TokensPerSecond:F0} tokens/s, {r.Elapsed.TotalSeconds:F1} s, device {lm.Context.Device.ToString().ToLowerInvariant()})"));
            return Task.FromResult(CliCommon.ExitOk);
        }));
        return command;
    }
}
