using System.Net;
using System.Net.Sockets;

namespace Pulsarish.TestKit;

/// <summary>Finds TCP ports free on 127.0.0.1 for processes that cannot bind port 0 themselves and report it.</summary>
public static class FreePort
{
    /// <summary>
    /// A port that was free a moment ago (bound to port 0, read, released). Another process may grab it before the
    /// caller binds it; callers that can retry should.
    /// </summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
