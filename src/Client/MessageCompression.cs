namespace Pulsarish.Client;

/// <summary>Payload compression of a producer (System.IO.Compression codecs); consumers decompress transparently.</summary>
public enum MessageCompression
{
    None = 0,
    GZip = 1,
    Brotli = 2,
}
