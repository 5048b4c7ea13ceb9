namespace Pulsarish.Broker.Admin;

/// <summary>A tenant, stored as JSON at /admin/policies/&lt;tenant&gt;.</summary>
public sealed class TenantInfo
{
    public List<string> AdminRoles { get; set; } = new();
    public List<string> AllowedClusters { get; set; } = new();
}
