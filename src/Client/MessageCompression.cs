namespace Pulsarish.Client;

/// <summary>
/// Compression of a producer's batches (System.IO.Compression codecs), carried in each send: the broker stores the
/// batch entry compressed (less bookie disk and network) and hands consumers the original payloads.
/// </summary>
public enum MessageCompression
{
    None = 0,
    GZip = 1,
    Brotli = 2,
}
