using MailServer.Rules.Directory;

namespace MailServer.Server.Import;

/// <summary>
/// An import as the CLI asks for it (and sends it to the running server's admin listener). <see cref="Password"/>
/// travels only in the request body over the admin listener and is never logged or written to the job file.
/// </summary>
/// <param name="Kind"><c>imap</c>, <c>export-zip</c>, <c>mbox</c> or <c>maildir</c>.</param>
/// <param name="User">The address whose mailbox receives the mail.</param>
/// <param name="Path">The zip, mbox file or directory, or Maildir (absolute).</param>
/// <param name="Folder">For a single mbox file: the folder to fill (default: the file's name).</param>
/// <param name="Host">IMAP: the server.</param>
/// <param name="Port">IMAP: the port (0: 993 with TLS, else 143).</param>
/// <param name="Security">IMAP: <c>tls</c> (default), <c>starttls</c> or <c>none</c>.</param>
/// <param name="Login">IMAP: the user name.</param>
/// <param name="Password">IMAP: the password.</param>
/// <param name="AuthorizeAs">IMAP: the mailbox to open with an administrator's login (SASL PLAIN authorization identity).</param>
/// <param name="AcceptAnyCertificate">IMAP: skip certificate validation.</param>
/// <param name="MarkSeen">Mark every imported message \Seen.</param>
/// <param name="RatePerSecond">At most this many messages a second (0: no limit).</param>
public sealed record ImportRequest(
    string Kind, string User, string? Path = null, string? Folder = null, string? Host = null, int Port = 0, string? Security = null,
    string? Login = null, string? Password = null, string? AuthorizeAs = null, bool AcceptAnyCertificate = false, bool MarkSeen = false,
    double RatePerSecond = 0)
{
    /// <summary>The kinds of source.</summary>
    public static IReadOnlyList<string> Kinds { get; } = ["imap", "export-zip", "mbox", "maildir"];

    /// <summary>What identifies the source for the job id (never the password).</summary>
    public string SourceIdentity => Kind == "imap"
        ? $"{Host?.ToLowerInvariant()}:{EffectivePort}/{Login}/{AuthorizeAs}"
        : System.IO.Path.GetFullPath(Path ?? "");

    private int EffectivePort => Port != 0 ? Port : ParsedSecurity == ImapSourceSecurity.Tls ? 993 : 143;

    private ImapSourceSecurity ParsedSecurity => Security?.ToLowerInvariant() switch
    {
        null or "tls" or "ssl" => ImapSourceSecurity.Tls,
        "starttls" => ImapSourceSecurity.StartTls,
        "none" => ImapSourceSecurity.None,
        _ => throw new ArgumentException($"--security must be tls, starttls or none, not '{Security}'"),
    };

    /// <summary>Checks the request against the configuration's directory.</summary>
    /// <exception cref="ArgumentException">What is wrong, in words for the admin.</exception>
    public DirectoryUser Validate(MailDirectory directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Kinds.Contains(Kind))
            throw new ArgumentException($"unknown import source '{Kind}' (one of {string.Join(", ", Kinds)})");
        var user = directory.FindUser(User.Trim().ToLowerInvariant())
            ?? throw new ArgumentException($"{User} is not a user of this server (a group or an unknown address has no mailbox)");
        if (RatePerSecond < 0)
            throw new ArgumentException("--rate must be positive");
        if (Kind == "imap")
        {
            if (string.IsNullOrWhiteSpace(Host))
                throw new ArgumentException("an IMAP import needs --host");
            if (string.IsNullOrEmpty(Login) || Password is null)
                throw new ArgumentException("an IMAP import needs --login and a password");
            if (Port is < 0 or > 65535)
                throw new ArgumentException("--port must be between 1 and 65535");
            _ = ParsedSecurity;
        }
        else if (string.IsNullOrEmpty(Path) || !File.Exists(Path) && !Directory.Exists(Path))
            throw new ArgumentException($"{Path} does not exist");
        return user;
    }

    /// <summary>Opens the source (an IMAP source connects on first use).</summary>
    /// <exception cref="ImportSourceException">The file cannot be opened.</exception>
    public IImportSource Open() => Kind switch
    {
        "imap" => new ImapImportSource(new ImapSourceOptions(Host!, EffectivePort, ParsedSecurity, Login!, Password!, AuthorizeAs, AcceptAnyCertificate)),
        "export-zip" => new ExportZipImportSource(Path!),
        "mbox" => new MboxImportSource(Path!, Folder),
        "maildir" => new MaildirImportSource(Path!),
        _ => throw new ArgumentException($"unknown import source '{Kind}'"),
    };

    /// <summary>The job id this request runs under (the same command, the same job).</summary>
    public string JobId(DirectoryUser user) => ImportJobRecord.IdFor(user.Email, Kind, SourceIdentity);

    /// <summary>The job's record: its checkpoint when there is one (a resume), else a new one.</summary>
    public ImportJobRecord NewOrResumed(string dataDirectory, DirectoryUser user, string description)
    {
        var id = JobId(user);
        return ImportJobRecord.Load(dataDirectory, id) ?? new ImportJobRecord { JobId = id, Kind = Kind, Source = description, User = user.Email };
    }
}
