using Pulsarish.Hosting.Supervisor;

namespace Pulsarish.Hosting.Configuration;

/// <summary>Settings of <c>pulsarish cluster up</c>: section <c>Supervisor</c>.</summary>
public sealed class SupervisorSettings : ComponentSettings
{
    public required SupervisorOptions Supervisor { get; init; }

    internal static SupervisorSettings Bind(PulsarishConfiguration configuration)
    {
        var failures = new List<string>();
        var supervisor = configuration.Bind(ConfigurationSections.Supervisor, new SupervisorOptions(), failures);
        var settings = new SupervisorSettings { Supervisor = supervisor };
        settings.Add(ConfigurationSections.Supervisor, supervisor);
        settings.Failures.AddRange(failures);
        return settings;
    }
}
