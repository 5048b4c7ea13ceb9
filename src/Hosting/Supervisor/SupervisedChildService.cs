using Microsoft.Extensions.Hosting;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// <see cref="SupervisedChildAgent"/> as a hosted service, for commands built on the Generic Host
/// (<c>services.AddHostedService&lt;SupervisedChildService&gt;()</c>).
/// </summary>
public sealed class SupervisedChildService : IHostedService, IDisposable
{
    private IDisposable? _agent;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _agent = SupervisedChildAgent.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose() => _agent?.Dispose();
}
