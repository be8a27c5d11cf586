using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MailServer.Server.Configuration;
using MailServer.Server.Hosting;
using MailServer.Server.Import;
using MailServer.Storage;

namespace MailServer.Server.Cli;

/// <summary>
/// <c>mailserver import imap|export-zip|mbox|maildir</c>: fills a user's mailbox from another server or from files.
/// While the server runs, the job runs inside it (started over the admin listener; this verb prints its progress
/// until it ends, or returns at once with <c>--no-wait</c>); with the server stopped, it runs in this process on the
/// store. Running the same command again resumes the job from its checkpoint and stores nothing twice.
/// <c>mailserver import status [JOBID]</c> and <c>mailserver import cancel JOBID</c> watch and stop jobs.
/// </summary>
internal sealed class ImportMailboxCommand : ICliCommand
{
    private readonly string _kind;

    private ImportMailboxCommand(string kind, string argumentSyntax, string summary, string details, IReadOnlyList<CliOption> options)
    {
        _kind = kind;
        Name = ["import", kind];
        ArgumentSyntax = argumentSyntax;
        Summary = summary;
        Details = details + "\n\n" + CommonDetails;
        Options = [new("--user", "ADDRESS", "the user whose mailbox receives the mail (required)"), .. options,
            new("--mark-seen", null, "mark every imported message as read"),
            new("--rate", "N", "import at most N messages a second"),
            new("--no-wait", null, "with the server running: start the job and return (watch it with 'import status')")];
    }

    private const string CommonDetails =
        "Folders keep their names and hierarchy; Sent, Drafts, Trash, Junk and Archive folders (RFC 6154 attributes, or\n" +
        "their usual names) land in Sent Items, Drafts, Deleted Items, Junk E-mail and Archive. Flags, keywords and\n" +
        "internal dates are kept. Imported mail is stored encrypted like delivered mail but is not new mail: no flow\n" +
        "rule, hook, mailbox rule, auto-reply or journal record applies. A message that cannot be read is reported and\n" +
        "the import goes on; a full mailbox stops it with an error. The same command again resumes where it stopped\n" +
        "(after Ctrl+C, a crash or kill -9) and stores no message twice in a folder.";

    public static ICliCommand Imap { get; } = new ImportMailboxCommand("imap", "", "import a mailbox from an IMAP server",
        "Pulls every folder of the mailbox from an IMAP server (WorkMail's imap.mail.REGION.awsapps.com, Dovecot,\n" +
        "Exchange, Gmail) read-only. The password is read from --password-file, else from the first line of standard input.\n" +
        "With an administrator's login, --authorize-as names the mailbox to open (SASL PLAIN authorization identity,\n" +
        "where the source server supports it: Dovecot master users, for example).",
        [
            new("--host", "HOST", "the IMAP server (required)"),
            new("--port", "PORT", "its port (default 993, or 143 with --security starttls|none)"),
            new("--security", "MODE", "tls (implicit TLS, the default), starttls or none"),
            new("--login", "NAME", "the user name to log in with (required)"),
            new("--password-file", "FILE", "a file whose first line is the password"),
            new("--authorize-as", "USER", "with an administrator's login: the mailbox to read"),
            new("--insecure", null, "accept any certificate (a self-signed source server)"),
        ]);

    public static ICliCommand ExportZip { get; } = new ImportMailboxCommand("export-zip", "FILE", "import a WorkMail mailbox export (zip)",
        "FILE is the zip StartMailboxExportJob wrote (decrypted with your KMS key): one .eml per message under its\n" +
        "folder's path. An export has no flags: messages arrive unread unless --mark-seen.", []);

    public static ICliCommand Mbox { get; } = new ImportMailboxCommand("mbox", "PATH", "import mbox files",
        "PATH is an mbox file (one folder: --folder, else the file's name) or a directory of them (Thunderbird's layout:\n" +
        "Work and Work.sbd/Projects). Status, X-Status, X-Mozilla-Status and X-Keywords give flags and keywords.",
        [new("--folder", "NAME", "for one file: the folder to fill")]);

    public static ICliCommand Maildir { get; } = new ImportMailboxCommand("maildir", "DIR", "import a Maildir tree",
        "DIR is a Maildir (cur/, new/) whose subfolders are Maildir++ (.Sent, .Work.Projects) or nested directories.\n" +
        "Flags from the file names (:2,DFRST), keywords through dovecot-keywords, dates from the files' times.", []);

    public IReadOnlyList<string> Name { get; }
    public string ArgumentSyntax { get; }
    public int ArgumentCount => ArgumentSyntax.Length == 0 ? 0 : 1;
    public IReadOnlyList<CliOption> Options { get; }
    public string Summary { get; }
    public string Details { get; }

    public async Task<int> RunAsync(CliArguments arguments, CliConsole console)
    {
        if (ConfigLoader.Load(arguments.ConfigPath, arguments.DataDirectory) is not ConfigLoadResult.Ok { Config: var config })
        {
            await console.Error.WriteLineAsync($"mailserver: {arguments.ConfigPath} is invalid; run 'mailserver config check'.").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var request = await BuildRequestAsync(arguments, console).ConfigureAwait(false);
        if (request is null)
            return ExitCodes.InvalidInput;
        try
        {
            request.Validate(config.ToDirectory());
        }
        catch (ArgumentException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.InvalidInput;
        }
        var printer = new ProgressPrinter(console);
        try
        {
            using var admin = await AdminClient.TryCreateAsync(config, console.CancellationToken).ConfigureAwait(false);
            ImportJobRecord job;
            if (admin is null)
            {
                await console.Out.WriteLineAsync("The server is not running: importing in this process.").ConfigureAwait(false);
                job = await ServerHost.RunImportAsync(config, request, printer.Print, console.CancellationToken).ConfigureAwait(false);
            }
            else
            {
                using var response = await admin.SendAsync(HttpMethod.Post, "admin/imports", JsonContent.Create(request), console.CancellationToken).ConfigureAwait(false);
                var body = await response.Content.ReadAsStringAsync(console.CancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    await console.Error.WriteLineAsync($"mailserver: {ErrorOf(body)}").ConfigureAwait(false);
                    return (int)response.StatusCode == 400 ? ExitCodes.InvalidInput : ExitCodes.Failure;
                }
                job = ImportJobRecord.FromJson(body);
                printer.Baseline(job);
                await console.Out.WriteLineAsync($"Import {job.JobId} started in the running server" +
                    (job.Folders.Count > 0 ? " (resuming from its checkpoint)" : "") + ".").ConfigureAwait(false);
                if (arguments.Flag("--no-wait"))
                    return ExitCodes.Ok;
                job = await WatchAsync(admin, job.JobId, printer, console.CancellationToken).ConfigureAwait(false);
            }
            return await printer.FinishAsync(job).ConfigureAwait(false);
        }
        catch (ImportSourceException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (StoreLockedException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}, and it did not answer on its admin listener.").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (StoreUnavailableException e)
        {
            await console.Error.WriteLineAsync($"mailserver: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (HttpRequestException e)
        {
            await console.Error.WriteLineAsync($"mailserver: the server went away during the import ({e.Message}); run the same command again to resume.").ConfigureAwait(false);
            return ExitCodes.Failure;
        }
    }

    private async Task<ImportRequest?> BuildRequestAsync(CliArguments arguments, CliConsole console)
    {
        async Task<ImportRequest?> Refuse(string message)
        {
            await console.Error.WriteLineAsync($"mailserver: {message}").ConfigureAwait(false);
            return null;
        }
        var user = arguments.Value("--user");
        if (user is null)
            return await Refuse("--user ADDRESS is required").ConfigureAwait(false);
        var rate = 0.0;
        if (arguments.Value("--rate") is { } r && (!double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out rate) || rate <= 0))
            return await Refuse("--rate must be a positive number of messages a second").ConfigureAwait(false);
        if (_kind != "imap")
            return new ImportRequest(_kind, user, Path.GetFullPath(arguments.Arguments[0]), arguments.Value("--folder"),
                MarkSeen: arguments.Flag("--mark-seen"), RatePerSecond: rate);
        var port = 0;
        if (arguments.Value("--port") is { } p && (!int.TryParse(p, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
            return await Refuse("--port must be between 1 and 65535").ConfigureAwait(false);
        string? password;
        if (arguments.Value("--password-file") is { } file)
        {
            try { password = File.ReadLines(file).FirstOrDefault(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return await Refuse($"cannot read {file}: {e.Message}").ConfigureAwait(false); }
        }
        else
            password = await console.In.ReadLineAsync(console.CancellationToken).ConfigureAwait(false);
        if (string.IsNullOrEmpty(password))
            return await Refuse("no password (give --password-file FILE, or the password as the first line of standard input)").ConfigureAwait(false);
        return new ImportRequest("imap", user, Host: arguments.Value("--host"), Port: port, Security: arguments.Value("--security"),
            Login: arguments.Value("--login"), Password: password, AuthorizeAs: arguments.Value("--authorize-as"),
            AcceptAnyCertificate: arguments.Flag("--insecure"), MarkSeen: arguments.Flag("--mark-seen"), RatePerSecond: rate);
    }

    private static async Task<ImportJobRecord> WatchAsync(AdminClient admin, string jobId, ProgressPrinter printer, CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            using var response = await admin.SendAsync(HttpMethod.Get, $"admin/imports/{jobId}", null, cancellationToken).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
            var job = ImportJobRecord.FromJson(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            if (job.State != ImportJobState.Running)
                return job;
            printer.Print(job);
        }
    }

    internal static string ErrorOf(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("error", out var e) ? e.GetString() ?? body : body;
        }
        catch (JsonException)
        {
            return body;
        }
    }

    /// <summary>Progress lines (one per change) and the final report: this run's counts, then the job's since its first run.</summary>
    private sealed class ProgressPrinter(CliConsole console)
    {
        private string? _last;
        private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
        private (long Imported, long Duplicates, long Failed, long Bytes)? _baseline;

        /// <summary>The job's counts before this run (the first record seen is taken as that, when not given).</summary>
        public void Baseline(ImportJobRecord job) => _baseline ??= (job.Imported, job.Duplicates, job.Failed, job.Bytes);

        private (long Imported, long Duplicates, long Failed, long Bytes) ThisRun(ImportJobRecord job)
        {
            Baseline(job);
            var b = _baseline!.Value;
            return (job.Imported - b.Imported, job.Duplicates - b.Duplicates, job.Failed - b.Failed, job.Bytes - b.Bytes);
        }

        public void Print(ImportJobRecord job)
        {
            var run = ThisRun(job);
            var done = run.Imported + run.Duplicates + run.Failed;
            var seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
            var line = $"{job.JobId}  {job.CurrentFolder ?? "-"}: {done:N0}" + (job.Total is { } total ? $" of {total:N0}" : "") +
                       $" messages ({run.Imported:N0} imported, {run.Duplicates:N0} already there, {run.Failed:N0} failed), " +
                       $"{run.Bytes / 1048576.0:N1} MB, {done / seconds:N0} msg/s, {run.Bytes / 1048576.0 / seconds:N1} MB/s";
            if (line == _last)
                return;
            _last = line;
            console.Out.WriteLine(line);
        }

        public async Task<int> FinishAsync(ImportJobRecord job)
        {
            var run = ThisRun(job);
            await console.Out.WriteLineAsync($"Import {job.JobId} {job.State.ToString().ToLowerInvariant()}. This run: {run.Imported:N0} imported " +
                $"({run.Bytes / 1048576.0:N1} MB), {run.Duplicates:N0} already there, {run.Failed:N0} failed. In all: {job.Imported:N0} imported, " +
                $"{job.Duplicates:N0} already there, {job.Failed:N0} failed.").ConfigureAwait(false);
            foreach (var folder in job.Folders)
                await console.Out.WriteLineAsync($"  {folder.Source} -> {folder.Target}: {folder.Imported:N0} imported, {folder.Duplicates:N0} already there, {folder.Failed:N0} failed")
                    .ConfigureAwait(false);
            foreach (var error in job.Errors)
                await console.Out.WriteLineAsync($"  not imported: {error.Message}: {error.Error}").ConfigureAwait(false);
            if (job.Failed > job.Errors.Count)
                await console.Out.WriteLineAsync($"  ... and {job.Failed - job.Errors.Count} more (see the server's log, event 9402)").ConfigureAwait(false);
            switch (job.State)
            {
                case ImportJobState.Completed:
                    return ExitCodes.Ok;
                case ImportJobState.Failed:
                    await console.Error.WriteLineAsync($"mailserver: import failed: {job.Error}").ConfigureAwait(false);
                    return ExitCodes.Failure;
                default:
                    await console.Error.WriteLineAsync("mailserver: the import did not finish; run the same command again to resume it.").ConfigureAwait(false);
                    return ExitCodes.Failure;
            }
        }
    }
}
