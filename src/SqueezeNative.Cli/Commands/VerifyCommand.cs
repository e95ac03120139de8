using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Evaluation;
using SqueezeNative.Runtime.Inference;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// `squeeze verify MODEL [--device cuda]`: checks a backend against the model folder's
/// reference.json (Hugging Face oracle): prompt ids, greedy continuations, last-position logits
/// and WikiText-2 perplexity. Exit code 0 only when every check passes. This is how the GPU
/// machine, which has no .NET SDK to run the xunit suite, tests the CUDA path end to end.
/// </summary>
internal static class VerifyCommand
{
    /// <summary>Length of the common prefix of two id sequences.</summary>
    private static int Agreement(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = 0;
        while (n < Math.Min(a.Count, b.Count) && a[n] == b[n]) n++;
        return n;
    }

    public static Command Create()
    {
        var model = ModelOptions.ModelArgument();
        var device = ModelOptions.DeviceOption();
        var threads = ModelOptions.ThreadsOption();
        var greedyTokens = new Option<int>("--greedy-tokens") { Description = "Leading greedy tokens that must equal the reference.", DefaultValueFactory = _ => 16 };
        var pplTolerance = new Option<double>("--ppl-tolerance") { Description = "Allowed relative distance to the fp32 reference perplexity (or the reference's own fp16 distance, if larger).", DefaultValueFactory = _ => 0.005 };
        var logitTolerance = new Option<double>("--logit-tolerance") { Description = "Allowed absolute error of the top-20 last-position logits.", DefaultValueFactory = _ => 0.05 };
        var limit = new Option<int?>("--limit") { Description = "Score only the first W WikiText-2 windows (compared with the mean of the same reference windows)." };
        var dataRoot = new Option<string?>("--data-root") { Description = "Folder holding data/wikitext2 (default: $SQUEEZE_SHARED or a nearby 'shared')." };
        var command = new Command("verify", "Check a backend against the model's reference.json (greedy ids, logits, WikiText-2 perplexity).")
        {
            model, device, threads, greedyTokens, pplTolerance, logitTolerance, limit, dataRoot,
        };
        command.SetAction(parse => CliCommon.Run(parse, loggers =>
        {
            var dir = parse.GetValue(model)!;
            var refPath = Path.Combine(dir, "reference.json");
            if (!File.Exists(refPath)) throw new ModelFormatException("no reference.json to verify against", refPath);
            using var doc = JsonDocument.Parse(File.ReadAllText(refPath));
            var reference = doc.RootElement;
            using var lm = ModelOptions.Load(dir, parse.GetValue(device)!, parse.GetValue(threads), loggers);
            var output = parse.InvocationConfiguration.Output;
            int failures = 0;
            void Report(bool ok, string what)
            {
                if (!ok) failures++;
                output.WriteLine($"{(ok ? "PASS" : "FAIL")}  {what}");
            }

            output.WriteLine($"verify {dir} on {lm.Context.DeviceName}");
            int g = parse.GetValue(greedyTokens);
            double logitTol = parse.GetValue(logitTolerance);
            foreach (var p in reference.GetProperty("prompts").EnumerateArray())
            {
                var text = p.GetProperty("prompt").GetString()!;
                var ids = p.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                Report(lm.EncodePrompt(text).SequenceEqual(ids), $"prompt ids of \"{text}\"");

                using var session = lm.CreateSession(ids.Length + 1);
                var logits = session.Forward(ids, allPositions: false).ToArray();
                var top = p.GetProperty("last_logits_fp32_top20");
                double worst = top.GetProperty("ids").EnumerateArray().Zip(top.GetProperty("values").EnumerateArray())
                    .Max(t => Math.Abs(logits[t.First.GetInt32()] - t.Second.GetDouble()));
                // As for perplexity: never required to be closer to fp32 than HF's own fp16 run was.
                double allowedLogit = Math.Max(logitTol, p.GetProperty("last_logits_fp16_max_abs_diff_vs_fp32").GetDouble());
                Report(worst <= allowedLogit, string.Create(CultureInfo.InvariantCulture,
                    $"top-20 logits max |error| {worst:G3} (allowed {allowedLogit:G3}: {logitTol} or the reference fp16's own error)"));

                var expected = p.GetProperty("greedy_fp32_new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
                var got = lm.GenerateIds(ids, new GenerationOptions { MaxNewTokens = expected.Length });
                int same = Agreement(expected, got);
                // fp16 arithmetic cannot follow the fp32 path past a near-tie: where HF's own fp16
                // greedy run left it earlier than --greedy-tokens, that is the bar.
                int hfFp16 = Agreement(expected, p.GetProperty("greedy_fp16_new_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
                int need = lm.Context.Device == Runtime.Native.DeviceKind.Cpu ? Math.Min(g, expected.Length) : Math.Min(Math.Min(g, expected.Length), hfFp16);
                Report(same >= need, $"greedy: first {same} of {expected.Length} tokens equal the reference (need {need}; HF fp16 itself: {hfFp16})");
            }

            var wiki = reference.GetProperty("wikitext2");
            var refLosses = wiki.GetProperty("window_losses_fp32").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var refLosses16 = wiki.GetProperty("window_losses_fp16").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            int? lim = parse.GetValue(limit);
            int windows = Math.Min(lim ?? refLosses.Length, refLosses.Length);
            double refPpl = Math.Exp(refLosses.Take(windows).Average());
            double refPpl16 = Math.Exp(refLosses16.Take(windows).Average());
            var result = new PerplexityEvaluator(lm, loggers.CreateLogger("eval")).Evaluate(
                PerplexityDataset.WikiText2, ModelOptions.LocateShared(parse.GetValue(dataRoot)), 1024, lim);
            double rel = Math.Abs(result.Perplexity - refPpl) / refPpl;
            double allowed = Math.Max(parse.GetValue(pplTolerance), Math.Abs(refPpl16 - refPpl) / refPpl);
            Report(rel <= allowed, string.Create(CultureInfo.InvariantCulture,
                $"wikitext2 ppl {result.Perplexity:F4} vs fp32 reference {refPpl:F4} over {windows} windows: {rel * 100:F3} % (allowed {allowed * 100:F3} %; reference fp16 {refPpl16:F4}); {result.TokensPerSecond:F0} tokens/s"));

            output.WriteLine(failures == 0 ? "all checks passed" : $"{failures} check(s) failed");
            return failures == 0 ? CliCommon.ExitOk : CliCommon.ExitError;
        }));
        return command;
    }
}
