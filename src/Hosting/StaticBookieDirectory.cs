using Pulsarish.Ledgers;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Hosting;

/// <summary>An <see cref="IBookieDirectory"/> of fixed addresses, each bookie's id being its "host:port".</summary>
public sealed class StaticBookieDirectory : IBookieDirectory
{
    private readonly IReadOnlyList<BookieServiceInfo> _bookies;

    public StaticBookieDirectory(params string[] addresses)
    {
        var bookies = new BookieServiceInfo[addresses.Length];
        for (int i = 0; i < addresses.Length; i++)
        {
            bookies[i] = new BookieServiceInfo { BookieId = addresses[i], Address = addresses[i] };
        }

        _bookies = bookies;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<BookieServiceInfo>> GetAvailableAsync(CancellationToken ct = default) => Task.FromResult(_bookies);
}
