namespace Pulsarish.Hosting.Configuration;

/// <summary>One bound options object and the configuration section it was bound from (e.g. <c>Broker</c>).</summary>
public sealed record OptionsSection(string Name, object Options);
