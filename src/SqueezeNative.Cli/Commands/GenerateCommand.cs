using System.CommandLine;
using SqueezeNative.Runtime.Inference;

namespace SqueezeNative.Cli.Commands;

/// <summary>`squeeze generate MODEL --prompt TEXT [sampling options]`: streams a continuation to stdout.</summary>
internal static class GenerateCommand
{
    public static Command Create()
    {
        var model = ModelOptions.ModelArgument();
        var device = ModelOptions.DeviceOption();
        var threads = ModelOptions.ThreadsOption();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Text to continue.", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens to generate.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy; otherwise sample at this temperature.", DefaultValueFactory = _ => 0f };
        var topK = new Option<int>("--top-k") { Description = "Sample among the k most likely tokens (0 = all).", DefaultValueFactory = _ => 0 };
        var topP = new Option<float>("--top-p") { Description = "Nucleus sampling mass in (0, 1].", DefaultValueFactory = _ => 1f };
        var repetition = new Option<float>("--repetition-penalty") { Description = "HF repetition penalty (1 = off).", DefaultValueFactory = _ => 1f };
        var seed = new Option<int>("--seed") { Description = "Sampler seed.", DefaultValueFactory = _ => 0 };
        var stop = new Option<string[]>("--stop") { Description = "Stop before this string (repeatable).", AllowMultipleArgumentsPerToken = false };
        var noEos = new Option<bool>("--ignore-eos") { Description = "Do not stop at the end-of-sequence token." };

        var command = new Command("generate", "Stream a continuation of a prompt.")
        {
            model, device, threads, prompt, maxTokens, temperature, topK, topP, repetition, seed, stop, noEos,
        };
        command.SetAction((parse, ct) => CliCommon.RunAsync(parse, ct, async (loggers, token) =>
        {
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxTokens),
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                RepetitionPenalty = parse.GetValue(repetition),
                Seed = parse.GetValue(seed),
                StopStrings = parse.GetValue(stop) ?? [],
                StopAtEos = !parse.GetValue(noEos),
            };
            options.Validate();
            using var lm = ModelOptions.Load(parse.GetValue(model)!, parse.GetValue(device)!, parse.GetValue(threads), loggers);
            var output = parse.InvocationConfiguration.Output;
            var text = parse.GetValue(prompt)!;
            await output.WriteAsync(text);
            await foreach (var piece in lm.GenerateAsync(text, options, token))
            {
                await output.WriteAsync(piece);
                await output.FlushAsync(token);
            }
            await output.WriteLineAsync();
            return CliCommon.ExitOk;
        }));
        return command;
    }
}
