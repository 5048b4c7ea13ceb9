using System.Text;

namespace Pulsarish.Broker.Errors;

/// <summary>
/// A client-supplied name as error messages echo it: whole up to <see cref="MaxEchoedChars"/> characters, else its
/// first <see cref="MaxEchoedChars"/> characters and its size ("abc…(1048576 bytes)"), so a 1 MB name does not come
/// back as a 1 MB error.
/// </summary>
public static class EchoedName
{
    /// <summary>Characters of a name echoed before it is cut.</summary>
    public const int MaxEchoedChars = 100;

    /// <summary>The name, shortened when longer than <see cref="MaxEchoedChars"/>.</summary>
    public static string Of(string? name)
    {
        if (name is null || name.Length <= MaxEchoedChars)
        {
            return name ?? "";
        }

        int cut = char.IsHighSurrogate(name[MaxEchoedChars - 1]) ? MaxEchoedChars - 1 : MaxEchoedChars;
        return $"{name[..cut]}…({Encoding.UTF8.GetByteCount(name)} bytes)";
    }
}
