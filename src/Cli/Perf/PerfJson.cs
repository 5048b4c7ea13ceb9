using System.Text.Json;

namespace Pulsarish.Cli;

/// <summary>JSON settings of perf output.</summary>
internal static class PerfJson
{
    public static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}
