namespace Pulsarish.Client;

/// <summary>Marker for the client assembly.</summary>
public static class ClientAssembly { }
