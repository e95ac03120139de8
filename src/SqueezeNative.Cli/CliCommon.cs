using System.CommandLine;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using SqueezeNative.Runtime;

namespace SqueezeNative.Cli;

/// <summary>What every subcommand shares: the verbose switch, logging, and the exit-code contract.</summary>
/// <remarks>
/// Exit codes: 0 success; 1 a <see cref="SqueezeException"/> (bad input the user can fix, printed
/// as "error: message"); 130 cancelled (the shell's code for Ctrl+C); 70 anything else, which is
/// a bug (EX_SOFTWARE from sysexits.h) and is printed with its stack trace.
/// </remarks>
public static class CliCommon
{
    public const int ExitOk = 0;
    public const int ExitError = 1;
    public const int ExitBug = 70;
    public const int ExitCancelled = 130;

    /// <summary>-v/--verbose, valid on every subcommand: debug-level logging.</summary>
    public static Option<bool> VerboseOption { get; } = new("--verbose", "-v")
    {
        Description = "Log debug details to stderr.",
        Recursive = true,
    };

    /// <summary>
    /// Console logging to stderr (stdout stays clean for command output), one line per message,
    /// colours only when stderr is a terminal.
    /// </summary>
    public static ILoggerFactory CreateLoggerFactory(bool verbose) => LoggerFactory.Create(builder =>
    {
        builder.SetMinimumLevel(verbose ? LogLevel.Debug : LogLevel.Information);
        builder.AddSimpleConsole(options =>
        {
            options.SingleLine = true;
            options.ColorBehavior = LoggerColorBehavior.Default;
        });
        builder.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
    });

    /// <summary>Runs a command body under the exit-code contract above.</summary>
    public static int Run(ParseResult parseResult, Func<ILoggerFactory, int> body)
    {
        var error = parseResult.InvocationConfiguration.Error;
        try
        {
            using var loggerFactory = CreateLoggerFactory(parseResult.GetValue(VerboseOption));
            return body(loggerFactory);
        }
        catch (SqueezeException e)
        {
            error.WriteLine($"error: {e.Message}");
            return ExitError;
        }
        catch (OperationCanceledException)
        {
            error.WriteLine("cancelled");
            return ExitCancelled;
        }
        catch (Exception e)
        {
            error.WriteLine($"internal error (this is a bug in SqueezeNative): {e}");
            return ExitBug;
        }
    }

    /// <summary>Asynchronous variant for commands that stream or can be cancelled (Ctrl+C cancels <paramref name="cancellationToken"/>).</summary>
    public static async Task<int> RunAsync(ParseResult parseResult, CancellationToken cancellationToken,
        Func<ILoggerFactory, CancellationToken, Task<int>> body)
    {
        var error = parseResult.InvocationConfiguration.Error;
        try
        {
            using var loggerFactory = CreateLoggerFactory(parseResult.GetValue(VerboseOption));
            return await body(loggerFactory, cancellationToken).ConfigureAwait(false);
        }
        catch (SqueezeException e)
        {
            await error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return ExitError;
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("cancelled").ConfigureAwait(false);
            return ExitCancelled;
        }
        catch (Exception e)
        {
            await error.WriteLineAsync($"internal error (this is a bug in SqueezeNative): {e}").ConfigureAwait(false);
            return ExitBug;
        }
    }
}
