using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;

namespace Pulsarish.Bookie;

/// <summary>Opens the real storage engine for a bookie's options (the default <see cref="LedgerStorageFactory"/>).</summary>
public static class DefaultLedgerStorage
{
    /// <summary>Opens <see cref="LedgerStorage"/> (journal replay included) on the bookie's directories.</summary>
    public static ValueTask<ILedgerStorage> OpenAsync(BookieOptions options, ILoggerFactory loggerFactory,
        CancellationToken ct) => throw new InvalidOperationException("storage branch not merged yet");
}
