namespace MailServer.Server.Configuration;

/// <summary>The file as one writer saw it: its bytes and the configuration they validate to.</summary>
/// <param name="Bytes">The file's content.</param>
/// <param name="Config">The configuration of <paramref name="Bytes"/> (not the running one, which may lag a second behind).</param>
public sealed record ConfigDocument(byte[] Bytes, ServerConfig Config);

/// <summary>What a writer wants: the edits (none: nothing to write) and the value to hand back.</summary>
public sealed record ConfigChange<T>(IReadOnlyList<JsonEdit> Edits, T Result);

/// <summary>A write through <see cref="ConfigWriter"/> was refused; <see cref="Errors"/> says why, with JSON paths.</summary>
public sealed class ConfigWriteRefusedException(IReadOnlyList<ConfigError> errors, bool fileWasInvalid)
    : Exception(fileWasInvalid
        ? $"The configuration file is invalid; fix it first: {string.Join("; ", errors)}"
        : $"The change would make the configuration invalid: {string.Join("; ", errors)}")
{
    /// <summary>Every problem, with its JSON path.</summary>
    public IReadOnlyList<ConfigError> Errors { get; } = errors;

    /// <summary>True when the file was already invalid before the change (an editor's unfinished edit).</summary>
    public bool FileWasInvalid { get; } = fileWasInvalid;
}

/// <summary>
/// Writes changes into appsettings.json for programs (the WorkMail API), the way an administrator's edit would
/// land: the same validation (<see cref="ConfigLoader"/>), only the bytes of the values concerned change
/// (<see cref="JsonFileEdits"/>), the file is replaced atomically (temp file, fsync, rename), and the running
/// server applies it before the call returns (<see cref="ConfigMonitor.ReloadNow"/>).
/// </summary>
/// <remarks>
/// Two writers never lose each other's change: a change is planned on the file's current bytes, and the new file
/// replaces the old one only if the file still holds those bytes (compare-and-swap on the content); otherwise the
/// change is planned again on the new content (up to <see cref="MaxAttempts"/> times). Writers in this process are
/// serialized; an editor that saves between the comparison and the rename (microseconds) is the only window left,
/// as no editor takes a lock the server could share.
/// </remarks>
public sealed class ConfigWriter(ConfigMonitor monitor)
{
    /// <summary>How often a change is planned again after another writer changed the file.</summary>
    public const int MaxAttempts = 8;

    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>
    /// Plans a change on the file's current content and writes it. <paramref name="plan"/> may run more than once
    /// (after a concurrent edit); it throws to refuse.
    /// </summary>
    /// <exception cref="ConfigWriteRefusedException">The file is invalid, or the change would make it invalid.</exception>
    /// <exception cref="IOException">The file cannot be read or replaced, or kept changing under us.</exception>
    public async Task<T> UpdateAsync<T>(Func<ConfigDocument, ConfigChange<T>> plan, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var path = monitor.Config.ConfigFilePath;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            for (var attempt = 0; attempt < MaxAttempts; attempt++)
            {
                var before = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
                var current = Parse(before, path);
                if (current is ConfigLoadResult.Invalid invalid)
                    throw new ConfigWriteRefusedException(invalid.Errors, fileWasInvalid: true);
                var change = plan(new ConfigDocument(before, ((ConfigLoadResult.Ok)current).Config));
                if (change.Edits.Count == 0)
                    return change.Result;

                var after = JsonFileEdits.Apply(before, change.Edits);
                if (Parse(after, path) is ConfigLoadResult.Invalid refused)
                    throw new ConfigWriteRefusedException(refused.Errors, fileWasInvalid: false);

                if (await TryReplaceAsync(path, before, after, cancellationToken).ConfigureAwait(false))
                {
                    monitor.ReloadNow();
                    return change.Result;
                }
            }
            throw new IOException($"{path} kept changing while a change was written; try again");
        }
        finally
        {
            _gate.Release();
        }
    }

    private ConfigLoadResult Parse(byte[] bytes, string path) =>
        // The data directory is the running one (it only changes at restart), as the monitor resolves it.
        ConfigLoader.Parse(bytes, path, monitor.Config.DataDirectory);

    /// <summary>Writes the temp file, then renames it over the target only if the target still holds <paramref name="expected"/>.</summary>
    private static async Task<bool> TryReplaceAsync(string path, byte[] expected, byte[] content, CancellationToken cancellationToken)
    {
        var temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = File.GetUnixFileMode(path);
        try
        {
            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            var now = await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
            if (!now.AsSpan().SequenceEqual(expected))
            {
                File.Delete(temp);
                return false;
            }
            File.Move(temp, path, overwrite: true);
            return true;
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
