using Grpc.Core;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>A failure a command reports as one line <c>error: Reason: detail</c> (exit code 1).</summary>
public sealed class CliException(string reason, string message) : Exception(message)
{
    /// <summary>Machine-readable reason (an ErrorReason name or a CLI reason such as ConnectionRefused).</summary>
    public string Reason { get; } = reason;
}

/// <summary>
/// The one error format of every client command on stderr: <c>error: &lt;Reason&gt;: &lt;detail&gt;</c>, exit code
/// <see cref="ExitFailure"/> for a failed operation and <see cref="ExitBadArguments"/> for a bad command line.
/// </summary>
public static class CliErrors
{
    /// <summary>Exit code of a failed operation.</summary>
    public const int ExitFailure = 1;

    /// <summary>Exit code of a command line the command refuses before doing anything.</summary>
    public const int ExitBadArguments = 2;

    /// <summary>Prints <c>error: reason: detail</c> on stderr; returns <paramref name="exitCode"/>.</summary>
    public static int Print(string reason, string detail, int exitCode = ExitFailure)
    {
        Console.Error.WriteLine($"error: {reason}: {detail}");
        return exitCode;
    }

    /// <summary>A bad command line: <c>error: BadArguments: detail</c>, exit code 2.</summary>
    public static int BadArguments(string detail) => Print("BadArguments", detail, ExitBadArguments);

    /// <summary>Prints a known failure of a client command; false when <paramref name="error"/> is not one.</summary>
    public static bool TryPrint(Exception error, out int exitCode)
    {
        exitCode = ExitFailure;
        switch (error)
        {
            case CliException cli:
                Print(cli.Reason, cli.Message);
                return true;
            case PulsarishClientException client:
                Print(client.ErrorReason.ToString(), client.Message);
                return true;
            case RpcException rpc:
                Print(rpc.Trailers.GetValue("reason") ?? rpc.StatusCode.ToString(), rpc.Status.Detail);
                return true;
            case IOException io:
                Print("IOError", io.Message);
                return true;
            default:
                return false;
        }
    }
}
