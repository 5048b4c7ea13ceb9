using Microsoft.Extensions.Logging;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>Writes log lines to NUnit's progress stream, so a failing test shows what the client did.</summary>
internal sealed class ProgressLogger(string category) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
        Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        TestContext.Progress.WriteLine(
            $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel,-11} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception.GetType().Name + ": " + exception.Message)}");
    }
}
