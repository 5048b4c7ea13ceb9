namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// The bound options of one process kind (broker, bookie, …): its sections in display order and the validation
/// failures found while binding (each naming its key). <see cref="EnsureValid"/> is the start-up gate.
/// </summary>
public abstract class ComponentSettings
{
    private readonly List<OptionsSection> _sections = [];

    /// <summary>The sections of this component, bound.</summary>
    public IReadOnlyList<OptionsSection> Sections => _sections;

    /// <summary>Failures of binding and validation; empty when the process may start.</summary>
    public List<string> Failures { get; } = [];

    /// <summary>Throws <see cref="InvalidConfigurationException"/> when anything failed: the process refuses to start.</summary>
    public void EnsureValid()
    {
        if (Failures.Count > 0)
        {
            throw new InvalidConfigurationException(Failures);
        }
    }

    internal T Add<T>(string name, T options)
        where T : class
    {
        _sections.Add(new OptionsSection(name, options));
        return options;
    }
}
