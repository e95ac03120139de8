using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using SqueezeNative.Runtime;
using SqueezeNative.Runtime.Tokenization;

namespace SqueezeNative.Cli.Commands;

/// <summary>
/// <c>squeeze tokenize MODEL (--text TEXT | --file PATH | --decode ID...)</c>: runs a model folder's
/// Hugging Face tokenizer. Encoding prints the ids on one line (with <c>--tokens</c>, one
/// "id&lt;TAB&gt;token" line per id); decoding prints the text.
/// </summary>
public static class TokenizeCommand
{
    public static Command Create()
    {
        var modelArgument = new Argument<string>("model")
        {
            Description = "Model folder with tokenizer.json, or GPT-2 style vocab.json + merges.txt",
        };
        var textOption = new Option<string?>("--text") { Description = "Text to encode" };
        var fileOption = new Option<FileInfo?>("--file") { Description = "UTF-8 text file to encode as one string" };
        var decodeOption = new Option<int[]?>("--decode")
        {
            Description = "Token ids to decode (instead of encoding)",
            AllowMultipleArgumentsPerToken = true,
        };
        var noSpecialOption = new Option<bool>("--no-special-tokens")
        {
            Description = "Encoding: add no BOS/EOS. Decoding: leave special tokens out",
        };
        var tokensOption = new Option<bool>("--tokens") { Description = "Encoding: print each id with its vocabulary entry" };

        var command = new Command("tokenize", "Encode text to token ids, or decode ids, with a model's tokenizer.");
        command.Arguments.Add(modelArgument);
        command.Options.Add(textOption);
        command.Options.Add(fileOption);
        command.Options.Add(decodeOption);
        command.Options.Add(noSpecialOption);
        command.Options.Add(tokensOption);

        command.SetAction(parseResult => CliCommon.Run(parseResult, loggerFactory =>
        {
            var logger = loggerFactory.CreateLogger("tokenize");
            var text = parseResult.GetValue(textOption);
            var file = parseResult.GetValue(fileOption);
            // An int[] option reads as an empty array when absent: presence is what counts.
            var decodeIds = parseResult.GetResult(decodeOption) is null ? null : parseResult.GetValue(decodeOption) ?? [];
            var noSpecial = parseResult.GetValue(noSpecialOption);
            var inputs = (text is null ? 0 : 1) + (file is null ? 0 : 1) + (decodeIds is null ? 0 : 1);
            if (inputs != 1)
                throw new InvalidOptionException("--text/--file/--decode", "give exactly one of them");

            var stopwatch = Stopwatch.StartNew();
            var tokenizer = TokenizerLoader.Load(parseResult.GetValue(modelArgument)!);
            logger.LogInformation("Loaded {Source} ({VocabSize} ids) in {Milliseconds} ms",
                tokenizer.SourcePath, tokenizer.VocabSize, stopwatch.ElapsedMilliseconds);

            if (decodeIds is not null)
            {
                Console.Out.WriteLine(tokenizer.Decode(decodeIds, skipSpecialTokens: noSpecial));
                return 0;
            }

            if (file is not null && !file.Exists)
                throw new InvalidOptionException("--file", $"{file.FullName} does not exist");
            var input = text ?? File.ReadAllText(file!.FullName);
            stopwatch.Restart();
            var ids = tokenizer.Encode(input, addSpecialTokens: !noSpecial);
            logger.LogInformation("Encoded {Characters} characters into {Tokens} tokens in {Milliseconds} ms",
                input.Length, ids.Length, stopwatch.ElapsedMilliseconds);

            if (parseResult.GetValue(tokensOption))
            {
                foreach (var id in ids)
                    Console.Out.WriteLine($"{id}\t{tokenizer.IdToToken(id)}");
            }
            else
            {
                Console.Out.WriteLine(string.Join(' ', ids));
            }
            return 0;
        }));
        return command;
    }
}
