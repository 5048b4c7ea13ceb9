using System.Net;
using System.Net.Sockets;

namespace Pulsarish.Cli;

/// <summary>
/// Start-up check of the ports a server command listens on, so that a taken port is one line naming the option to
/// change (<c>error: AddressInUse: 127.0.0.1:6650 is in use; choose another with --port</c>) instead of the host's
/// stack traces.
/// </summary>
public static class ListenPort
{
    /// <summary>
    /// Prints the AddressInUse error and returns exit code 1 when <paramref name="port"/> on
    /// <paramref name="bindAddress"/> cannot be bound; null when it is free (or 0: any free port).
    /// </summary>
    public static int? Check(string bindAddress, int? port, string option)
    {
        if (port is not > 0 || !IPAddress.TryParse(bindAddress, out var address))
        {
            return null;
        }

        using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // As Kestrel binds (SO_REUSEADDR on Linux): refused only while another socket listens there.
            probe.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            probe.Bind(new IPEndPoint(address, port.Value));
            probe.Listen(1);
            return null;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return Report(bindAddress, port.Value, option);
        }
        catch (SocketException)
        {
            // Another failure (e.g. a privileged port): the server's own bind reports it.
            return null;
        }
    }

    /// <summary>True when <paramref name="error"/> is a failure to bind a listener because the address is taken.</summary>
    public static bool IsAddressInUse(Exception? error)
    {
        for (; error is not null; error = error.InnerException)
        {
            if (error is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }
                || error.GetType().Name == "AddressInUseException")
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Prints <c>error: AddressInUse: HOST:PORT is in use; choose another with OPTION</c>; returns 1.</summary>
    public static int Report(string bindAddress, int port, string option)
        => CliErrors.Print("AddressInUse", $"{bindAddress}:{port} is in use; choose another with {option}");
}
