namespace SqueezeNative.BindGen;

/// <summary>
/// <c>SqueezeNative.BindGen --header &lt;path&gt; --out &lt;dir&gt; [--check]</c>: regenerates the C# bindings
/// of the C header, or (with --check) verifies that the checked-in ones are current.
/// Exit codes: 0 done / up to date, 1 --check found differences, 2 bad usage or the header cannot be bound.
/// </summary>
public static class Program
{
    public const int Success = 0;
    public const int Stale = 1;
    public const int Failure = 2;

    private const string Usage = "usage: SqueezeNative.BindGen --header <squeeze_native.h> --out <Generated dir> [--check]";

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>The whole command, with its output streams injectable for tests.</summary>
    public static int Run(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr)
    {
        string? header = null, output = null;
        var check = false;
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "--header" when i + 1 < args.Count:
                    header = args[++i];
                    break;
                case "--out" when i + 1 < args.Count:
                    output = args[++i];
                    break;
                case "--check":
                    check = true;
                    break;
                case "-h" or "--help":
                    stdout.WriteLine(Usage);
                    return Success;
                default:
                    stderr.WriteLine($"SqueezeNative.BindGen: unexpected argument '{args[i]}'" +
                                     (args[i] is "--header" or "--out" ? " (it needs a value)" : "") + ".");
                    stderr.WriteLine(Usage);
                    return Failure;
            }
        }
        if (header is null || output is null)
        {
            stderr.WriteLine($"SqueezeNative.BindGen: {(header is null ? "--header" : "--out")} is required.");
            stderr.WriteLine(Usage);
            return Failure;
        }

        IReadOnlyDictionary<string, string> files;
        try
        {
            files = BindingGenerator.Generate(header);
        }
        catch (Exception e) when (e is BindGenException or DllNotFoundException or IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"SqueezeNative.BindGen: {e.Message}");
            return Failure;
        }

        if (check)
        {
            var differing = BindingGenerator.Differences(output, files);
            if (differing.Count == 0)
            {
                stdout.WriteLine($"bindings in {output} are up to date with {header}.");
                return Success;
            }
            stderr.WriteLine($"SqueezeNative.BindGen: bindings in {output} are stale (run ./build.sh bindings):");
            foreach (var name in differing)
                stderr.WriteLine($"  {name}");
            return Stale;
        }

        try
        {
            var changed = BindingGenerator.Write(output, files);
            stdout.WriteLine(changed.Count == 0
                ? $"bindings in {output} were already up to date."
                : $"wrote {string.Join(", ", changed)} to {output}.");
            return Success;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"SqueezeNative.BindGen: cannot write {output}: {e.Message}");
            return Failure;
        }
    }
}
