using System.Globalization;
using SqueezeNative.Runtime.Evaluation;
using SqueezeNative.Runtime.Quantization.Checkpoint;
using SqueezeNative.Runtime.Tokenization;

namespace SqueezeNative.Runtime.Quantization.Pipeline;

/// <summary>
/// The calibration windows of a run (GPTQ / SqueezeLLM sampling) from --calib FILE (default
/// &lt;shared&gt;/data/calib/calib.txt) or --calib-dataset. WikiText-2 and PTB are the strings
/// their perplexity uses, sampled like a text file; C4 draws documents as GPTQ's
/// <c>get_c4</c> does (<see cref="C4Sampler"/>, with --seed). The shared data holds only the
/// evaluation splits, so calibrating on wikitext2 or ptb flatters their perplexity: prefer the
/// default text for numbers meant to be compared.
/// </summary>
internal static class CalibrationData
{
    public static string DefaultFile(string sharedRoot) => Path.Combine(sharedRoot, "data", "calib", "calib.txt");

    /// <summary>The text's digest and where it came from, without tokenizing (for the resume fingerprint).</summary>
    public static (string Source, string Path, string Sha256) Describe(QuantizationPipelineOptions options)
    {
        if (options.CalibrationDataset is { } dataset)
        {
            var root = options.SharedRoot ?? throw new InvalidOptionException("--calib-dataset",
                "the datasets live in the shared data folder, which was not found (pass --data-root or set SQUEEZE_SHARED)");
            var path = PerplexityDatasets.DataPath(dataset, root);
            return ($"dataset:{PerplexityDatasets.Info(dataset).Name}", path, EvalText.FileSha256Hex(path));
        }
        var file = options.CalibrationFile
            ?? (options.SharedRoot is { } shared ? DefaultFile(shared)
                : throw new InvalidOptionException("--calib",
                    "no calibration file given and no shared data folder to take data/calib/calib.txt from (pass --calib FILE or --data-root)"));
        if (!File.Exists(file))
            throw new InvalidOptionException("--calib", $"calibration file not found: {file}");
        return (file, file, EvalText.FileSha256Hex(file));
    }

    /// <summary>Tokenizes and samples <see cref="QuantizationPipelineOptions.NSamples"/> windows.</summary>
    public static (CalibrationSample Sample, CalibrationInfo Info) Load(QuantizationPipelineOptions options, ITokenizer tokenizer,
        int contextLength)
    {
        if (options.SeqLen > contextLength)
            throw new InvalidOptionException("--seqlen",
                $"{options.SeqLen.ToString(CultureInfo.InvariantCulture)} tokens exceed the model's context of {contextLength.ToString(CultureInfo.InvariantCulture)}");
        var (source, path, sha) = Describe(options);
        int[] Tokenize(string text) => tokenizer.Encode(text);
        CalibrationSample sample;
        switch (options.CalibrationDataset)
        {
            case PerplexityDataset.C4:
            {
                var c4 = C4Sampler.Sample(EvalText.C4Documents(path), Tokenize, options.SeqLen, options.NSamples, options.Seed);
                sample = new CalibrationSample(c4.Windows, c4.Starts);
                break;
            }
            case PerplexityDataset.WikiText2:
                sample = CalibrationSampler.Sample(EvalText.WikiText2(path), Tokenize, options.SeqLen, options.NSamples, options.Seed);
                break;
            case PerplexityDataset.Ptb:
                sample = CalibrationSampler.Sample(EvalText.Ptb(path), Tokenize, options.SeqLen, options.NSamples, options.Seed);
                break;
            default:
                sample = CalibrationSampler.Sample(EvalText.CalibrationText(path), Tokenize, options.SeqLen, options.NSamples, options.Seed);
                break;
        }
        return (sample, new CalibrationInfo(source, sha, options.NSamples, options.SeqLen, options.Seed));
    }
}
