namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>A parsed connect string: the servers and the optional chroot, with path translation.</summary>
internal sealed class ConnectString
{
    private ConnectString(IReadOnlyList<(string Host, int Port)> servers, string? chroot)
    {
        Servers = servers;
        Chroot = chroot;
    }

    public IReadOnlyList<(string Host, int Port)> Servers { get; }

    /// <summary>The chroot prefix without a trailing '/', or null.</summary>
    public string? Chroot { get; }

    public static ConnectString Parse(string connectString)
    {
        string hosts = connectString.Trim();
        string? chroot = null;
        int slash = hosts.IndexOf('/');
        if (slash >= 0)
        {
            chroot = hosts[slash..];
            hosts = hosts[..slash];
            if (chroot == "/") chroot = null;
            else PathValidation.Validate(chroot, sequential: false);
        }
        var servers = new List<(string, int)>();
        foreach (var part in hosts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int colon = part.LastIndexOf(':');
            if (colon < 0)
            {
                servers.Add((part, 2181));
                continue;
            }
            string host = part[..colon].Trim('[', ']');
            if (!int.TryParse(part.AsSpan(colon + 1), out int port) || port is <= 0 or > 65535 || host.Length == 0)
                throw new ArgumentException($"invalid server '{part}' in connect string '{connectString}'");
            servers.Add((host, port));
        }
        if (servers.Count == 0) throw new ArgumentException($"no server in connect string '{connectString}'");
        return new ConnectString(servers, chroot);
    }

    /// <summary>Client path to server path (prefix the chroot).</summary>
    public string ToServer(string clientPath)
    {
        if (Chroot is null) return clientPath;
        return clientPath == "/" ? Chroot : Chroot + clientPath;
    }

    /// <summary>Server path to client path (strip the chroot).</summary>
    public string ToClient(string serverPath)
    {
        if (Chroot is null) return serverPath;
        if (serverPath == Chroot) return "/";
        if (serverPath.Length > Chroot.Length && serverPath.StartsWith(Chroot, StringComparison.Ordinal) && serverPath[Chroot.Length] == '/')
            return serverPath[Chroot.Length..];
        return serverPath;
    }
}
