using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MailServer.Server.Configuration;
using MailServer.Server.Hosting;
using MailServer.Server.Keys;
using MailServer.Storage;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver keys status|rotate</c>, <c>mailbox delete</c>, <c>backup</c>, <c>backup verify</c> and <c>restore</c>:
/// through the admin listener while the server runs (it holds the database), on the store when it is stopped.
/// </summary>
internal static class KeysCommand
{
    public static readonly ICliCommand Status = new KeysStatus();
    public static readonly ICliCommand Rotate = new KeysRotate();
    public static readonly ICliCommand MailboxDelete = new MailboxDeleteCommand();
    public static readonly ICliCommand BackupRun = new BackupCommand();
    public static readonly ICliCommand BackupVerify = new BackupVerifyCommand();
    public static readonly ICliCommand Restore = new RestoreCommand();

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    private static async Task<int> RunAsync(CliArguments arguments, CliConsole console, Func<AdminClient, ServerConfig, Task<int>> online,
        Func<IKeyAdministrationStore, ServerConfig, Task<int>> offline, TimeSpan? timeout = null)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        try
        {
            using (var admin = await AdminClient.TryCreateAsync(config, console.CancellationToken, timeout).ConfigureAwait(false))
                if (admin is not null)
                    return await online(admin, config).ConfigureAwait(false);
            await using var store = OfflineStore.Open(config);
            return await offline(store.Keys, config).ConfigureAwait(false);
        }
        catch (StoreLockedException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}, and its admin listener does not answer.").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (HttpRequestException e)
        {
            await console.Error.WriteLineAsync($"mailserver: the server stopped answering: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (ArgumentException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException or InvalidDataException or KeyNotFoundException
                                       or System.Security.Cryptography.CryptographicException or IOException)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    /// <summary>The error of a non-success admin reply, as an exit code after printing it.</summary>
    private static async Task<int> FailAsync(HttpResponseMessage response, CliConsole console)
    {
        var text = await response.Content.ReadAsStringAsync(console.CancellationToken).ConfigureAwait(false);
        string message;
        try { message = JsonDocument.Parse(text).RootElement.GetProperty("error").GetString() ?? text; }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException) { message = text; }
        await console.Error.WriteLineAsync($"mailserver: {message}").ConfigureAwait(false);
        return response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound ? ExitCodes.InvalidInput : ExitCodes.Failure;
    }

    private static async Task<string?> ReadPassphraseAsync(CliConsole console)
    {
        var line = await console.In.ReadLineAsync(console.CancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(line))
        {
            await console.Error.WriteLineAsync("mailserver: no passphrase on standard input (give it as the first line)").ConfigureAwait(false);
            return null;
        }
        if (line.Length < 12)
        {
            await console.Error.WriteLineAsync("mailserver: the passphrase must have at least 12 characters").ConfigureAwait(false);
            return null;
        }
        return line;
    }

    private static string Size(long bytes) => bytes >= 1 << 20 ? $"{bytes / 1048576.0:0.0} MB" : $"{bytes / 1024.0:0.0} KB";

    private sealed class KeysStatus : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["keys", "status"];
        public string ArgumentSyntax => "";
        public int ArgumentCount => 0;
        public IReadOnlyList<CliOption> Options { get; } = [new("--org", "ALIAS", "only this organization"), new("--json", null, "print JSON")];
        public string Summary => "master key versions, what refers to each, shredded mailboxes and mailboxes awaiting shredding";
        public string Details =>
            "For each organization: its key provider, every master key version (current, retiring, retired but still\n" +
            "present, missing) with the mailboxes and held/in-transit messages wrapped under it, the rotation in\n" +
            "progress, shredded mailboxes, and mailboxes whose user is no longer in the configuration (delete them with\n" +
            "'mailserver mailbox delete ADDRESS').";

        public Task<int> RunAsync(CliArguments arguments, CliConsole console) => KeysCommand.RunAsync(arguments, console,
            async (admin, _) =>
            {
                var org = arguments.Value("--org");
                using var response = await admin.SendAsync(HttpMethod.Get, "admin/keys/status" + (org is null ? "" : "?org=" + Uri.EscapeDataString(org)), null,
                    console.CancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    return await FailAsync(response, console).ConfigureAwait(false);
                var status = await response.Content.ReadFromJsonAsync<List<KeyStatusView>>(Web, console.CancellationToken).ConfigureAwait(false) ?? [];
                await PrintAsync(status, arguments.Flag("--json"), console).ConfigureAwait(false);
                return ExitCodes.Ok;
            },
            async (store, config) =>
            {
                await PrintAsync(KeyAdministration.Status(store, config, arguments.Value("--org")), arguments.Flag("--json"), console).ConfigureAwait(false);
                return ExitCodes.Ok;
            });

        private static async Task PrintAsync(IReadOnlyList<KeyStatusView> status, bool json, CliConsole console)
        {
            if (json)
            {
                await console.Out.WriteLineAsync(JsonSerializer.Serialize(status, new JsonSerializerOptions(Web) { WriteIndented = true })).ConfigureAwait(false);
                return;
            }
            foreach (var s in status)
            {
                await console.Out.WriteLineAsync($"{s.Alias} ({s.Organization}): provider {s.Provider}, current version {s.CurrentVersion}").ConfigureAwait(false);
                foreach (var v in s.Versions)
                    await console.Out.WriteLineAsync($"  v{v.Version}  {v.State,-20} {v.Mailboxes,8} mailbox(es) {v.InTransit,6} held/in transit  {v.Location}").ConfigureAwait(false);
                if (s.LegacyMailboxes > 0)
                    await console.Out.WriteLineAsync($"  {s.LegacyMailboxes} mailbox(es) still wrapped directly under v1 (created before key ledgers; a rotation moves them)").ConfigureAwait(false);
                if (s.Rotation is { } r)
                    await console.Out.WriteLineAsync($"  rotation to v{r.Version}: {r.State}, {r.Done}/{r.Total} re-wrapped in {r.Seconds:0.0} s{(r.Error is null ? "" : ": " + r.Error)}").ConfigureAwait(false);
                foreach (var m in s.MailboxRotations)
                    await console.Out.WriteLineAsync($"  mailbox key rotation of {m.Address}: {m.State}" + (m.Generation > 0 ? $", generation {m.Generation}, {m.Done}/{m.Total} re-wrapped in {m.Seconds:0.0} s" : "") +
                                                     (m.Error is null ? "" : ": " + m.Error)).ConfigureAwait(false);
                await console.Out.WriteLineAsync($"  shredded mailboxes: {s.ShreddedMailboxes}; replaced mailbox keys destroyed: {s.ReplacedMailboxKeys}").ConfigureAwait(false);
                if (s.AwaitingShredding.Count == 0)
                    await console.Out.WriteLineAsync("  awaiting shredding: none").ConfigureAwait(false);
                foreach (var a in s.AwaitingShredding)
                    await console.Out.WriteLineAsync($"  awaiting shredding: {a.Address} (mailbox {a.MailboxId}, {a.Messages} message(s), {Size(a.Bytes)}): its user is no longer configured").ConfigureAwait(false);
            }
        }
    }

    private sealed class KeysRotate : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["keys", "rotate"];
        public string ArgumentSyntax => "";
        public int ArgumentCount => 0;
        public IReadOnlyList<CliOption> Options { get; } = [new("--org", "ALIAS", "the organization whose master key gets a new version"),
            new("--mailbox", "ADDRESS", "instead: give this mailbox a new key, re-wrap its message keys, destroy the old key"),
            new("--no-wait", null, "start the rotation in the running server and return")];
        public string Summary => "rotate an organization's master key (--org) or one mailbox's key (--mailbox); the old key is destroyed";
        public string Details =>
            "Creates master key version N+1 (File provider: keys/<alias>.vN+1.key; Environment and SystemdCredential:\n" +
            "provide it first and restart), makes it current, and re-wraps every mailbox key and every held or\n" +
            "in-transit message key under it in the background while the server serves mail; message keys and bodies are\n" +
            "not touched. When nothing refers to the old version any more it is destroyed (File provider) or listed for\n" +
            "you to remove. Interrupted (even by kill -9), it resumes at the next start or run. Prints progress.\n" +
            "With --mailbox ADDRESS: the mailbox gets a new random key (under a new ledger secret); its folder names are\n" +
            "re-sealed and every message key re-wrapped under it in batches while mail flows (bodies untouched); then the\n" +
            "old key's secret is destroyed, so no copy of the database, older backups included, opens the old key.";

        public Task<int> RunAsync(CliArguments arguments, CliConsole console) => arguments.Value("--mailbox") is { } address
            ? RotateMailboxAsync(arguments, console, address)
            : KeysCommand.RunAsync(arguments, console,
            async (admin, _) =>
            {
                var org = arguments.Value("--org") ?? throw new ArgumentException("--org ALIAS is required");
                using (var response = await admin.SendAsync(HttpMethod.Post, "admin/keys/rotate?org=" + Uri.EscapeDataString(org), null, console.CancellationToken).ConfigureAwait(false))
                {
                    if (!response.IsSuccessStatusCode)
                        return await FailAsync(response, console).ConfigureAwait(false);
                    using var started = JsonDocument.Parse(await response.Content.ReadAsStringAsync(console.CancellationToken).ConfigureAwait(false));
                    await console.Out.WriteLineAsync($"rotation of {org} to master key version {started.RootElement.GetProperty("version").GetInt32()} started in the running server").ConfigureAwait(false);
                }
                if (arguments.Flag("--no-wait"))
                    return ExitCodes.Ok;
                while (true)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(500), console.CancellationToken).ConfigureAwait(false);
                    using var response = await admin.SendAsync(HttpMethod.Get, "admin/keys/status?org=" + Uri.EscapeDataString(org), null, console.CancellationToken).ConfigureAwait(false);
                    if (!response.IsSuccessStatusCode)
                        return await FailAsync(response, console).ConfigureAwait(false);
                    var status = (await response.Content.ReadFromJsonAsync<List<KeyStatusView>>(Web, console.CancellationToken).ConfigureAwait(false))![0];
                    if (status.Rotation is not { } r)
                        continue;
                    await console.Out.WriteLineAsync($"  {r.Done}/{r.Total} re-wrapped ({r.Seconds:0.0} s)").ConfigureAwait(false);
                    if (r.State == "failed")
                    {
                        await console.Error.WriteLineAsync($"mailserver: the rotation failed: {r.Error} (it resumes at the next run or start)").ConfigureAwait(false);
                        return ExitCodes.Failure;
                    }
                    if (r.State == "done")
                        return await DoneAsync(org, r.Version, r.Done, r.Seconds, r.VersionsLeftToOperator, console).ConfigureAwait(false);
                }
            },
            async (store, config) =>
            {
                var org = KeyAdministration.Organizations(config, arguments.Value("--org") ?? throw new ArgumentException("--org ALIAS is required"))[0];
                var resumed = store.KeyStatusOf(org.Id).RetiringVersions.Count > 0;
                var progress = new InlineProgress<RotationProgress>(p => console.Out.WriteLine($"  {p.Done}/{p.Total} re-wrapped"));
                var result = await store.RotateAsync(org.Id, start: !resumed, progress, console.CancellationToken).ConfigureAwait(false);
                if (resumed)
                    await console.Out.WriteLineAsync("resumed the rotation an earlier run did not finish").ConfigureAwait(false);
                return await DoneAsync(org.Alias, result.Version, result.Rewrapped, result.Elapsed.TotalSeconds, result.VersionsLeftToOperator, console).ConfigureAwait(false);
            });

        private static Task<int> RotateMailboxAsync(CliArguments arguments, CliConsole console, string address) => KeysCommand.RunAsync(arguments, console,
            async (admin, _) =>
            {
                var wait = !arguments.Flag("--no-wait");
                using var response = await admin.SendAsync(HttpMethod.Post, "admin/keys/rotate-mailbox", JsonContent.Create(new MailboxRotateRequest(address, wait)),
                    console.CancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    return await FailAsync(response, console).ConfigureAwait(false);
                if (!wait)
                {
                    await console.Out.WriteLineAsync($"key rotation of {address} started in the running server ('mailserver keys status' shows its progress)").ConfigureAwait(false);
                    return ExitCodes.Ok;
                }
                return await MailboxDoneAsync((await response.Content.ReadFromJsonAsync<MailboxRotationResultView>(Web, console.CancellationToken).ConfigureAwait(false))!, console)
                    .ConfigureAwait(false);
            },
            async (store, config) =>
            {
                var (_, mailbox) = KeyAdministration.ResolveMailbox(store, config, address);
                var progress = new InlineProgress<MailboxKeyRotationProgress>(p => console.Out.WriteLine($"  {p.Done}/{p.Total} message key(s) re-wrapped"));
                var r = await store.RotateMailboxKeyAsync(mailbox.MailboxId, progress, console.CancellationToken).ConfigureAwait(false);
                return await MailboxDoneAsync(new MailboxRotationResultView(mailbox.Owner, r.MailboxId, r.Generation, r.Rewrapped, r.Elapsed.TotalSeconds, r.Resumed,
                    r.OlderCopiesNeedRotation), console).ConfigureAwait(false);
            },
            timeout: Timeout.InfiniteTimeSpan);

        private static async Task<int> MailboxDoneAsync(MailboxRotationResultView r, CliConsole console)
        {
            if (r.Resumed)
                await console.Out.WriteLineAsync("resumed the key rotation an earlier run did not finish").ConfigureAwait(false);
            await console.Out.WriteLineAsync(
                $"{r.Address}: mailbox key generation {r.Generation} is current; {r.Rewrapped} message key(s) re-wrapped in {r.Seconds:0.00} s" +
                (r.Seconds > 0 && r.Rewrapped > 0 ? $" ({r.Rewrapped / r.Seconds:0} per second)" : "") + "; the previous key is destroyed").ConfigureAwait(false);
            if (r.OlderCopiesNeedRotation)
                await console.Out.WriteLineAsync("  the previous key predates key ledgers: copies of the database taken before now stay readable with master key " +
                                                 "version 1 until a rotation retires it ('mailserver keys rotate --org ALIAS')").ConfigureAwait(false);
            await console.Out.WriteLineAsync("  backups taken before cannot open this mailbox with today's keys any more: take a new backup").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        private static async Task<int> DoneAsync(string org, int version, long done, double seconds, IReadOnlyList<int> left, CliConsole console)
        {
            await console.Out.WriteLineAsync(
                $"{org}: master key version {version} is current; {done} key(s) re-wrapped in {seconds:0.00} s" +
                (seconds > 0 && done > 0 ? $" ({done / seconds:0} per second)" : "") + "; older versions retired").ConfigureAwait(false);
            foreach (var v in left)
                await console.Out.WriteLineAsync($"  remove master key version {v} from your key provider: nothing refers to it any more").ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }

    private sealed class MailboxDeleteCommand : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["mailbox", "delete"];
        public string ArgumentSyntax => "ADDRESS";
        public int ArgumentCount => 1;
        public string Summary => "delete the mailbox of a user removed from the configuration and destroy its key (crypto-shredding)";
        public string Details =>
            "Refused while ADDRESS is a user or alias in the configuration: remove the user there first. Destroys the\n" +
            "mailbox's secret in the key ledger (so its messages cannot be decrypted from any copy of the database, old\n" +
            "backups included), then deletes its folders and messages. Messages it shared with other recipients stay\n" +
            "readable for them. Cannot be undone.";

        public Task<int> RunAsync(CliArguments arguments, CliConsole console) => KeysCommand.RunAsync(arguments, console,
            async (admin, _) =>
            {
                using var response = await admin.SendAsync(HttpMethod.Post, "admin/mailboxes/delete", JsonContent.Create(new MailboxDeleteRequest(arguments.Arguments[0])),
                    console.CancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                    return await FailAsync(response, console).ConfigureAwait(false);
                return await PrintAsync((await response.Content.ReadFromJsonAsync<MailboxDeleteView>(Web, console.CancellationToken).ConfigureAwait(false))!, console).ConfigureAwait(false);
            },
            async (store, config) =>
            {
                try
                {
                    return await PrintAsync(await KeyAdministration.DeleteMailboxAsync(store, config, arguments.Arguments[0], console.CancellationToken).ConfigureAwait(false), console)
                        .ConfigureAwait(false);
                }
                catch (KeyNotFoundException e)
                {
                    await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
                    return ExitCodes.InvalidInput;
                }
            });

        private static async Task<int> PrintAsync(MailboxDeleteView result, CliConsole console)
        {
            await console.Out.WriteLineAsync($"deleted the mailbox of {result.Address} ({result.MailboxId}): {result.Messages} message(s), " +
                                             $"{result.FilesDeleted} message file(s) no other mailbox shared; its key is destroyed").ConfigureAwait(false);
            if (result.OlderCopiesNeedRotation)
                await console.Out.WriteLineAsync("  this mailbox predates key ledgers: copies of the database taken before now stay readable with master key " +
                                                 "version 1 until a rotation retires it ('mailserver keys rotate --org ALIAS')").ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }

    private sealed class BackupCommand : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["backup"];
        public string ArgumentSyntax => "";
        public int ArgumentCount => 0;
        public IReadOnlyList<CliOption> Options { get; } = [new("--to", "DIR", "the backup folder (outside the data folder); a later run into it is incremental"),
            new("--include-keys", null, "also store the master keys and key ledgers, sealed under a passphrase read on standard input")];
        public string Summary => "back up the running (or stopped) server: database at a commit point, message files, config, DKIM keys, queue";
        public string Details =>
            "Takes the database at a commit point through the store's single writer (intake pauses only for that copy),\n" +
            "then copies every message file it refers to, the configuration and the data folder's other files (sealed).\n" +
            "A run into a folder that holds a backup copies only what changed. Master keys and key ledgers are left out\n" +
            "unless --include-keys (passphrase: first line of standard input, at least 12 characters).";

        public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
        {
            if (await PostgreSqlBackups.RefuseAsync(arguments, console, "backup").ConfigureAwait(false))
                return ExitCodes.InvalidInput;
            var to = arguments.Value("--to");
            if (to is null)
            {
                await console.Error.WriteLineAsync("mailserver: --to DIR is required").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            string? passphrase = null;
            if (arguments.Flag("--include-keys") && (passphrase = await ReadPassphraseAsync(console).ConfigureAwait(false)) is null)
                return ExitCodes.InvalidInput;
            to = Path.GetFullPath(to);
            return await KeysCommand.RunAsync(arguments, console,
                async (admin, _) =>
                {
                    using var response = await admin.SendAsync(HttpMethod.Post, "admin/backup", JsonContent.Create(new BackupRequest(to, passphrase)),
                        console.CancellationToken).ConfigureAwait(false);
                    if (!response.IsSuccessStatusCode)
                        return await FailAsync(response, console).ConfigureAwait(false);
                    return await PrintAsync((await response.Content.ReadFromJsonAsync<BackupReport>(Web, console.CancellationToken).ConfigureAwait(false))!, console).ConfigureAwait(false);
                },
                // Refused above on PostgreSQL: the store opened here is LiteDB's, whose files a backup copies.
                async (store, config) => await PrintAsync(await Backup.RunAsync(store as MailStore ?? throw new NotSupportedException("backups copy LiteDB's files"), config, arguments.ConfigPath,
                    new ConfiguredMasterKeys(() => config, createMissing: false), to, passphrase, console.CancellationToken).ConfigureAwait(false), console).ConfigureAwait(false),
                timeout: Timeout.InfiniteTimeSpan).ConfigureAwait(false);
        }

        private static async Task<int> PrintAsync(BackupReport r, CliConsole console)
        {
            await console.Out.WriteLineAsync(
                $"backup {r.Snapshot} in {r.Directory} at commit point {r.CommitPoint.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'}: {r.Mailboxes} mailbox(es), {r.Messages} message(s), {r.Queued} queued; " +
                $"{r.FilesCopied} file(s) copied ({Size(r.BytesCopied)}), {r.FilesReused} unchanged; {Size(r.TotalBytes)} in all; " +
                $"{r.Seconds:0.00} s (intake paused {r.WriterPausedMilliseconds:0} ms)" + (r.KeysIncluded ? "; keys included (sealed under the passphrase)" : "; keys NOT included"))
                .ConfigureAwait(false);
            return ExitCodes.Ok;
        }
    }

    private sealed class BackupVerifyCommand : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["backup", "verify"];
        public string ArgumentSyntax => "DIR";
        public int ArgumentCount => 1;
        public IReadOnlyList<CliOption> Options { get; } = [new("--all", null, "decrypt every message (default: a sample of 200)"),
            new("--sample", "N", "decrypt N messages chosen at random"),
            new("--passphrase-stdin", null, "use the keys inside the backup (made with --include-keys), passphrase on standard input")];
        public string Summary => "check a backup: every file present and intact, messages decrypt (a sample or all)";
        public string Details =>
            "Checks that every message file and sealed file the backup's manifest names is there and opens, then decrypts\n" +
            "messages of the snapshot from the backup's own files: with the configured keys and key ledgers, or with the\n" +
            "backup's keys (--passphrase-stdin). Messages of mailboxes shredded since the backup count as shredded. Exit 0\n" +
            "when nothing is missing, damaged or undecryptable.";

        public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
        {
            if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
            {
                await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            int? sample = arguments.Flag("--all") ? null : 200;
            if (arguments.Value("--sample") is { } s)
            {
                if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
                {
                    await console.Error.WriteLineAsync("mailserver: --sample needs a positive number").ConfigureAwait(false);
                    return ExitCodes.InvalidInput;
                }
                sample = n;
            }
            string? passphrase = null;
            if (arguments.Flag("--passphrase-stdin") && (passphrase = await ReadPassphraseAsync(console).ConfigureAwait(false)) is null)
                return ExitCodes.InvalidInput;
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var r = await Backup.VerifyAsync(config, arguments.Arguments[0], passphrase, sample, console.CancellationToken).ConfigureAwait(false);
                var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
                await console.Out.WriteLineAsync($"backup {r.Snapshot} taken {r.TakenAt:u}: {r.FilesChecked} file(s) checked, {r.FilesMissing} missing, {r.FilesDamaged} damaged").ConfigureAwait(false);
                await console.Out.WriteLineAsync($"messages: {r.Messages.Checked} checked, {r.Messages.Ok} decrypted ({Size(r.Messages.Bytes)}), " +
                                                 $"{r.Messages.Shredded} of shredded mailboxes, {r.Messages.Failed} failed; {seconds:0.00} s").ConfigureAwait(false);
                foreach (var e in r.Messages.Errors)
                    await console.Out.WriteLineAsync("  " + e).ConfigureAwait(false);
                return r.FilesMissing == 0 && r.FilesDamaged == 0 && r.Messages.Failed == 0 ? ExitCodes.Ok : ExitCodes.Failure;
            }
            catch (InvalidOperationException e)
            {
                await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }
    }

    private sealed class RestoreCommand : ICliCommand
    {
        public IReadOnlyList<string> Name { get; } = ["restore"];
        public string ArgumentSyntax => "";
        public int ArgumentCount => 0;
        public IReadOnlyList<CliOption> Options { get; } = [new("--from", "DIR", "the backup folder"),
            new("--passphrase-stdin", null, "restore the keys from the backup (made with --include-keys), passphrase on standard input")];
        public string Summary => "restore a backup into an empty data folder, then reindex to verify every message";
        public string Details =>
            "The data folder (from the configuration or --data) must be empty or hold only keys/. Without\n" +
            "--passphrase-stdin the master keys and key ledgers must already be in place (keys/ and keys/ledger/, or\n" +
            "the environment / credentials). The configuration is restored to --config when that file does not exist,\n" +
            "else beside it as .restored. Then 'reindex' runs: it decrypts every message and reports.";

        public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
        {
            if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
            {
                await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            if (await PostgreSqlBackups.RefuseAsync(arguments, console, "restore").ConfigureAwait(false))
                return ExitCodes.InvalidInput;
            var from = arguments.Value("--from");
            if (from is null)
            {
                await console.Error.WriteLineAsync("mailserver: --from DIR is required").ConfigureAwait(false);
                return ExitCodes.InvalidInput;
            }
            string? passphrase = null;
            if (arguments.Flag("--passphrase-stdin") && (passphrase = await ReadPassphraseAsync(console).ConfigureAwait(false)) is null)
                return ExitCodes.InvalidInput;
            try
            {
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var r = await Backup.RestoreAsync(config, arguments.ConfigPath, from, passphrase, console.CancellationToken).ConfigureAwait(false);
                await console.Out.WriteLineAsync($"restored {r.Messages} message(s), {r.FilesRestored} file(s) into {r.DataDirectory}" +
                                                 (r.KeysWritten.Count > 0 ? $"; keys written: {string.Join(", ", r.KeysWritten)}" : "")).ConfigureAwait(false);
                foreach (var note in r.Notes)
                    await console.Out.WriteLineAsync("  " + note).ConfigureAwait(false);
                var reindex = await ServerHost.ReindexAsync(config, console.CancellationToken).ConfigureAwait(false);
                await console.Out.WriteLineAsync($"reindex: {reindex.EntriesChecked} message(s) checked, {reindex.EntriesUndecryptable} undecryptable, " +
                                                 $"{reindex.EntriesRemovedBlobMissing} missing; {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:0.00} s").ConfigureAwait(false);
                return reindex.EntriesUndecryptable == 0 && reindex.EntriesRemovedBlobMissing == 0 ? ExitCodes.Ok : ExitCodes.Failure;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or System.Security.Cryptography.CryptographicException or KeyNotFoundException)
            {
                await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
                return ExitCodes.Failure;
            }
        }
    }
}
