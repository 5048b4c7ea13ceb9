namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// The configuration cannot start a process: a value out of range, a missing required key, a value that does not
/// convert, an unreadable file. Each failure names the configuration key (<c>Section:Key</c>).
/// </summary>
public sealed class InvalidConfigurationException : Exception
{
    public InvalidConfigurationException(IReadOnlyList<string> failures)
        : base(string.Join("; ", failures))
    {
        Failures = failures;
    }

    public InvalidConfigurationException(string failure, Exception? inner = null)
        : base(failure, inner)
    {
        Failures = [failure];
    }

    /// <summary>One line per failure, each starting with the key it is about.</summary>
    public IReadOnlyList<string> Failures { get; }
}
