using Pulsarish.Bookie;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;

namespace Pulsarish.Hosting;

/// <summary>Opens the storage engine a bookie serves; the bookie server owns (and disposes) what it returns.</summary>
public delegate ValueTask<ILedgerStorage> LedgerStorageFactory(BookieOptions options, ILoggerFactory loggerFactory,
    CancellationToken ct);

/// <summary>Optional hooks of <see cref="BookieHost.StartAsync(BookieOptions, BookieHostSetup, CancellationToken)"/>.</summary>
public sealed class BookieHostSetup
{
    /// <summary>Replaces the logging configuration (default: warnings and above to the console's stderr).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>Replaces the storage engine (default: <see cref="LedgerStorage"/> on the configured directories).</summary>
    public LedgerStorageFactory? StorageFactory { get; init; }
}
