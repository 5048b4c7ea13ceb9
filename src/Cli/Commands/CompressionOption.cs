using System.CommandLine;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>--compression lz4|zstd|snappy|zlib|none</c> of <c>produce</c> and <c>perf produce</c>: the producer's
/// client-side batch compression (<see cref="ProducerOptions.CompressionType"/>).
/// </summary>
public static class CompressionOption
{
    private static readonly string[] Names = ["none", "lz4", "zstd", "snappy", "zlib"];

    public static Option<string> Create()
    {
        var option = new Option<string>("--compression")
        {
            Description = "Batch compression applied by the producer: lz4, zstd, snappy, zlib or none",
            DefaultValueFactory = _ => "none",
        };
        option.AcceptOnlyFromAmong(Names);
        return option;
    }

    /// <summary>The producer setting for an accepted name.</summary>
    public static CompressionType Parse(string? name) => name switch
    {
        "lz4" => CompressionType.LZ4,
        "zstd" => CompressionType.ZSTD,
        "snappy" => CompressionType.Snappy,
        "zlib" => CompressionType.Zlib,
        _ => CompressionType.None,
    };
}
