using System.Security.Cryptography;
using MailServer.Rules.Directory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace MailServer.Server.Configuration;

/// <summary>One configuration generation and the directory compiled from it, swapped together.</summary>
/// <param name="Config">The configuration in force.</param>
/// <param name="Directory">The directory compiled from <paramref name="Config"/>.</param>
/// <param name="Generation">1 for the configuration loaded at start, +1 per applied reload.</param>
public sealed record ConfigSnapshot(ServerConfig Config, MailDirectory Directory, long Generation);

/// <summary>Thrown when the configuration cannot be used at start; <see cref="Errors"/> has every problem.</summary>
public sealed class ConfigInvalidException(IReadOnlyList<ConfigError> errors)
    : Exception($"The configuration is invalid ({errors.Count} error(s)); first: {errors.FirstOrDefault()}")
{
    /// <summary>Every problem, with its JSON path.</summary>
    public IReadOnlyList<ConfigError> Errors { get; } = errors;
}

/// <summary>
/// Holds the last good configuration and its directory, and reloads the file when it changes
/// (docs/decisions.md, "Organizations and configuration": edits apply without a restart, within a second).
/// </summary>
/// <remarks>
/// Change detection: a <see cref="FileSystemWatcher"/> on the file's folder (debounced 200 ms; editors write,
/// rename and replace), plus a poll of the file's modification time and length every second in case the
/// watcher misses an event (network file systems, inotify limits). The poll also watches the password file the
/// loader merges (<see cref="PasswordFile"/>, in the running data folder). Content that hashes the same as the last
/// content seen is not reloaded.
/// An invalid edit is refused as a whole: every error is logged with its JSON path and the last good
/// configuration stays. Values read only at start — DataDirectory, ServerName, Listeners, Tls, Limits and an
/// existing organization's MasterKeyPath — are logged as "takes effect after restart" and keep their running
/// value; everything else (organizations, users, groups, rules, Dns, Delivery) applies live.
/// Thread-safe; readers take <see cref="Snapshot"/> once per decision.
/// </remarks>
public sealed class ConfigMonitor : IDirectorySource, IDisposable
{
    private readonly string _configPath;
    private readonly string? _dataOverride;
    private readonly ILogger _logger;
    private readonly object _gate = new();
    private readonly Timer _debounce;
    private readonly Timer _poll;
    private readonly FileSystemWatcher? _watcher;
    private volatile ConfigSnapshot _snapshot;
    private CancellationTokenSource _changeSource = new();
    private byte[] _lastHash;
    private FileStamps _lastStat;
    private bool _disposed;

    /// <summary>The configuration file this monitor watches.</summary>
    public string ConfigPath => _configPath;

    private ConfigMonitor(string configPath, string? dataOverride, ServerConfig config, byte[] hash, ILogger logger, TimeSpan pollInterval)
    {
        _configPath = configPath;
        _dataOverride = dataOverride;
        _logger = logger;
        _snapshot = new ConfigSnapshot(config, config.ToDirectory(), 1);
        _lastHash = hash;
        _lastStat = Stat() ?? default;
        _debounce = new Timer(_ => ReloadNow(), null, Timeout.Infinite, Timeout.Infinite);
        _poll = new Timer(_ => Poll(), null, pollInterval, pollInterval);
        var folder = Path.GetDirectoryName(configPath)!;
        try
        {
            _watcher = new FileSystemWatcher(folder)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.CreationTime,
                IncludeSubdirectories = false,
            };
            var name = Path.GetFileName(configPath);
            FileSystemEventHandler onChange = (_, e) => { if (NameIs(e.Name, name)) Schedule(); };
            _watcher.Changed += onChange;
            _watcher.Created += onChange;
            _watcher.Renamed += (_, e) => { if (NameIs(e.Name, name) || NameIs(e.OldName, name)) Schedule(); };
            _watcher.Error += (_, e) => ConfigLog.WatcherFailed(_logger, folder, e.GetException());
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException)
        {
            ConfigLog.WatcherFailed(_logger, folder, e);
            _watcher = null;
        }
        ConfigLog.Loaded(_logger, configPath, config.Organizations.Count, config.Organizations.Sum(o => o.Users.Count));
        ConfigLog.Postmasters(_logger, _snapshot.Directory);
    }

    private static bool SamePostmasters(MailDirectory before, MailDirectory after) =>
        before.DefaultOrganization?.Id == after.DefaultOrganization?.Id
        && before.Organizations.Select(o => (o.Id, before.PostmasterOf(o))).SequenceEqual(after.Organizations.Select(o => (o.Id, after.PostmasterOf(o))));

    /// <summary>Loads the configuration and starts watching it.</summary>
    /// <param name="configPath">The appsettings.json path.</param>
    /// <param name="dataDirectoryOverride">The --data option, or null.</param>
    /// <param name="logger">Receives load, reload and error messages (event ids 1000–1099).</param>
    /// <param name="pollInterval">How often to check the file's time and length; default 1 s.</param>
    /// <exception cref="ConfigInvalidException">The file is missing or invalid; every error is also logged.</exception>
    public static ConfigMonitor Start(string configPath, string? dataDirectoryOverride, ILogger logger, TimeSpan? pollInterval = null)
    {
        var fullPath = Path.GetFullPath(configPath);
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(fullPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigInvalidException([new ConfigError("$", $"cannot read {fullPath}: {e.Message}")]);
        }
        switch (ConfigLoader.Parse(bytes, fullPath, dataDirectoryOverride))
        {
            case ConfigLoadResult.Ok ok:
                return new ConfigMonitor(fullPath, dataDirectoryOverride, ok.Config, Hash(bytes, ok.Config.DataDirectory), logger,
                    pollInterval ?? TimeSpan.FromSeconds(1));
            case ConfigLoadResult.Invalid invalid:
                LogErrors(logger, invalid.Errors);
                throw new ConfigInvalidException(invalid.Errors);
            default:
                throw new InvalidOperationException("unreachable");
        }
    }

    /// <summary>The configuration and directory in force, as one consistent pair.</summary>
    public ConfigSnapshot Snapshot => _snapshot;

    /// <summary>The configuration in force.</summary>
    public ServerConfig Config => _snapshot.Config;

    /// <inheritdoc />
    public MailDirectory Current => _snapshot.Directory;

    /// <summary>Raised after a new configuration has been applied, on a timer thread.</summary>
    public event Action<ConfigSnapshot>? Changed;

    /// <summary>A token that fires at the next applied reload (for Microsoft.Extensions.Primitives consumers).</summary>
    public IChangeToken GetReloadToken()
    {
        lock (_gate)
            return new CancellationChangeToken(_changeSource.Token);
    }

    /// <summary>
    /// Reads the file now and applies it if it changed and is valid.
    /// Returns true when a new configuration was applied.
    /// </summary>
    public bool ReloadNow()
    {
        ConfigSnapshot applied;
        CancellationTokenSource fired;
        lock (_gate)
        {
            if (_disposed)
                return false;
            byte[] bytes;
            try
            {
                if (!File.Exists(_configPath))
                    return false; // mid-replace by an editor; the next event or poll retries
                bytes = File.ReadAllBytes(_configPath);
                _lastStat = Stat() ?? default;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                ConfigLog.ReadFailed(_logger, _configPath, e);
                return false;
            }
            var hash = Hash(bytes, _snapshot.Config.DataDirectory);
            if (hash.AsSpan().SequenceEqual(_lastHash))
                return false;
            _lastHash = hash;

            var result = ConfigLoader.Parse(bytes, _configPath, _dataOverride);
            var dataDirectoryChanged = result is ConfigLoadResult.Ok { Config: var parsed } && parsed.DataDirectory != _snapshot.Config.DataDirectory;
            if (dataDirectoryChanged)
            {
                // The data directory only changes at restart: resolve key and certificate paths against the running one.
                ConfigLog.NeedsRestart(_logger, "$." + ConfigLoader.SectionName + ".DataDirectory");
                result = ConfigLoader.Parse(bytes, _configPath, _snapshot.Config.DataDirectory);
            }
            switch (result)
            {
                case ConfigLoadResult.Invalid invalid:
                    LogErrors(_logger, invalid.Errors);
                    return false;
                case ConfigLoadResult.Ok ok:
                    var config = KeepRestartOnlyValues(_snapshot.Config, ok.Config);
                    var previous = _snapshot;
                    applied = new ConfigSnapshot(config, config.ToDirectory(), _snapshot.Generation + 1);
                    _snapshot = applied;
                    fired = _changeSource;
                    _changeSource = new CancellationTokenSource();
                    ConfigLog.Reloaded(_logger, _configPath, config.Organizations.Count, config.Organizations.Sum(o => o.Users.Count));
                    if (!SamePostmasters(previous.Directory, applied.Directory))
                        ConfigLog.Postmasters(_logger, applied.Directory);
                    break;
                default:
                    return false;
            }
        }
        try
        {
            Changed?.Invoke(applied);
            fired.Cancel();
        }
        catch (Exception e)
        {
            ConfigLog.ListenerFailed(_logger, e);
        }
        finally
        {
            fired.Dispose();
        }
        return true;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
        }
        _watcher?.Dispose();
        _debounce.Dispose();
        _poll.Dispose();
        _changeSource.Dispose();
    }

    private ServerConfig KeepRestartOnlyValues(ServerConfig running, ServerConfig next)
    {
        const string root = "$." + ConfigLoader.SectionName;
        if (running.ServerName != next.ServerName)
            ConfigLog.NeedsRestart(_logger, root + ".ServerName");
        if (running.Listeners != next.Listeners)
            ConfigLog.NeedsRestart(_logger, root + ".Listeners");
        if (running.Tls != next.Tls)
            ConfigLog.NeedsRestart(_logger, root + ".Tls");
        if (running.Limits != next.Limits)
            ConfigLog.NeedsRestart(_logger, root + ".Limits");
        // The resolver is built once at start (its cache and sockets belong to it).
        if (running.Dns.Port != next.Dns.Port || running.Dns.TimeoutSeconds != next.Dns.TimeoutSeconds
            || !running.Dns.Servers.SequenceEqual(next.Dns.Servers))
            ConfigLog.NeedsRestart(_logger, root + ".Dns");

        var runningKeys = running.Organizations.ToDictionary(o => o.Id, o => o.MasterKeyPath, StringComparer.Ordinal);
        var organizations = next.Organizations.Select((org, i) =>
        {
            if (runningKeys.TryGetValue(org.Id, out var keyPath) && keyPath != org.MasterKeyPath)
            {
                ConfigLog.NeedsRestart(_logger, $"{root}.Organizations[{i}].MasterKeyPath");
                return org with { MasterKeyPath = keyPath };
            }
            return org;
        }).ToList();

        return next with
        {
            ServerName = running.ServerName,
            Listeners = running.Listeners,
            Tls = running.Tls,
            Limits = running.Limits,
            Dns = running.Dns,
            Organizations = organizations,
        };
    }

    private void Schedule()
    {
        try
        {
            _debounce.Change(TimeSpan.FromMilliseconds(200), Timeout.InfiniteTimeSpan);
        }
        catch (ObjectDisposedException)
        {
            // Disposed while an event was in flight.
        }
    }

    private void Poll()
    {
        var stat = Stat();
        if (stat is { } s && s != _lastStat)
            ReloadNow();
    }

    /// <summary>The config file's time and length, and those of the password file it merges (PasswordFile).</summary>
    private readonly record struct FileStamps(DateTime Modified, long Length, DateTime PasswordsModified, long PasswordsLength);

    private FileStamps? Stat()
    {
        try
        {
            var info = new FileInfo(_configPath);
            if (!info.Exists)
                return null;
            var passwords = new FileInfo(PasswordFile.PathIn(_snapshot.Config.DataDirectory));
            return passwords.Exists
                ? new FileStamps(info.LastWriteTimeUtc, info.Length, passwords.LastWriteTimeUtc, passwords.Length)
                : new FileStamps(info.LastWriteTimeUtc, info.Length, default, -1);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// The hash of what a load reads: the config file's bytes and the password file's (a `user passwd` that only
    /// touches passwords.json is a change too). The data directory is the running one: it only changes at restart.
    /// </summary>
    private static byte[] Hash(byte[] configBytes, string dataDirectory)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(configBytes);
        try
        {
            var path = PasswordFile.PathIn(dataDirectory);
            if (File.Exists(path))
            {
                sha.AppendData("\0passwords\0"u8);
                sha.AppendData(File.ReadAllBytes(path));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unreadable now: the load reports it; the next change of either file retries.
        }
        return sha.GetHashAndReset();
    }

    private static bool NameIs(string? changed, string name) => string.Equals(changed, name, StringComparison.Ordinal);

    private static void LogErrors(ILogger logger, IReadOnlyList<ConfigError> errors)
    {
        ConfigLog.Refused(logger, errors.Count);
        foreach (var error in errors)
            ConfigLog.Error(logger, error.Path, error.Message);
    }
}
