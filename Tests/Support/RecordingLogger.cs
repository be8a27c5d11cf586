using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace MailServer.Tests.Support;

/// <summary>One log call: event, level, rendered message and the scopes active when it was made.</summary>
public sealed record LogRecord(EventId EventId, LogLevel Level, string Message, Exception? Exception, IReadOnlyList<object?> Scopes);

/// <summary>An <see cref="ILogger{T}"/> that keeps every record, with scopes tracked per async flow.</summary>
public sealed class RecordingLogger<T> : ILogger<T>
{
    private readonly AsyncLocal<ImmutableStack?> _scopes = new();

    public ConcurrentQueue<LogRecord> Records { get; } = new();

    public IDisposable BeginScope<TState>(TState state) where TState : notnull
    {
        var previous = _scopes.Value;
        _scopes.Value = new ImmutableStack(state, previous);
        return new Pop(() => _scopes.Value = previous);
    }

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var scopes = new List<object?>();
        for (var s = _scopes.Value; s is not null; s = s.Next)
            scopes.Add(s.State);
        Records.Enqueue(new LogRecord(eventId, logLevel, formatter(state, exception), exception, scopes));
    }

    private sealed record ImmutableStack(object? State, ImmutableStack? Next);

    private sealed class Pop(Action pop) : IDisposable
    {
        public void Dispose() => pop();
    }
}
