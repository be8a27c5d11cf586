using LiteDB;
using LiteDB.Engine;
using MailServer.Storage.Blobs;
using MailServer.Storage.Crypto;
using Microsoft.Extensions.Logging;

namespace MailServer.Storage;

/// <summary>
/// The encrypted mail store: the one owner of the LiteDB database, the blob folder and the keys.
/// Open it once per process with <see cref="Open"/>; every method is thread-safe. Writes go through one
/// writer thread that commits pending requests together and fsyncs once (group commit); reads run
/// concurrently on LiteDB's committed snapshot.
/// </summary>
public sealed partial class MailStore : IMailStore
{
    private readonly MailStoreOptions _options;
    private readonly ILogger _log;
    private readonly LiteDatabase _db;
    private readonly DurableStream _dataStream;
    private readonly DurableStream _logStream;
    private readonly bool _ownsStreams;
    private readonly FileStream? _lockFile;
    private readonly BlobStore _blobs;
    private readonly MailboxKeyCache _keyCache;
    private readonly ChangeFeed _changes;
    private readonly TimeProvider _time;

    private MailStore(MailStoreOptions options, DurableStream data, DurableStream log, bool ownsStreams, FileStream? lockFile, string blobDirectory)
    {
        _options = options;
        _log = options.Logger;
        _time = options.TimeProvider;
        _dataStream = data;
        _logStream = log;
        _ownsStreams = ownsStreams;
        _lockFile = lockFile;
        _blobs = new BlobStore(blobDirectory);
        _keyCache = new MailboxKeyCache(options.KeyCacheTimeToLive, options.TimeProvider);
        _changes = new ChangeFeed(options.ChangeFeedCapacity);
        var engine = new LiteEngine(new EngineSettings
        {
            DataStream = data,
            LogStream = log,
            // Index keys are ids and hex digests: compare them byte-wise, never by culture or case
            // (LiteDB's default is the current culture, ignoring case). Fixed when the file is created.
            Collation = new Collation(System.Globalization.CultureInfo.InvariantCulture.LCID, System.Globalization.CompareOptions.Ordinal),
        });
        _db = new LiteDatabase(engine, new BsonMapper(), disposeOnClose: true);
        _writerThread = new Thread(WriterLoop) { Name = "MailStore writer", IsBackground = true };
        _writerThread.Start();
        // Indexes and the meta document are created by the writer like every other write.
        RunOnWriter(ctx => { ctx.Initialise(); return true; }, [], CancellationToken.None).GetAwaiter().GetResult();
    }

    /// <inheritdoc/>
    public IChangeFeed Changes => _changes;

    /// <summary>The blob folder (bench and tests inspect it).</summary>
    public string BlobDirectory => _blobs.Root;

    /// <summary>
    /// Opens the store in <see cref="MailStoreOptions.DataDirectory"/> (creating it), taking an exclusive
    /// lock on <c>mailserver.lock</c> there for as long as the store is open.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="StoreLockedException">Another process (or another open store) holds the directory.</exception>
    /// <exception cref="IOException">The database files could not be opened.</exception>
    public static MailStore Open(MailStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var directory = Path.GetFullPath(options.DataDirectory);
        Directory.CreateDirectory(directory);
        var lockFile = AcquireLock(directory);
        FileStream? data = null, log = null;
        try
        {
            data = OpenDatabaseFile(Path.Combine(directory, "mail.db"));
            log = OpenDatabaseFile(Path.Combine(directory, "mail-log.db"));
            Durability.FsyncDirectory(directory);
            var dataStream = new DurableStream(data, null);
            var store = new MailStore(options, dataStream, new DurableStream(log, dataStream), ownsStreams: true, lockFile,
                Path.Combine(directory, "blobs"));
            StoreLog.Opened(store._log, directory);
            return store;
        }
        catch
        {
            data?.Dispose();
            log?.Dispose();
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// For tests: a store whose database lives in <paramref name="data"/> and <paramref name="log"/> (usually
    /// MemoryStreams, left open on dispose) with blobs under <c>&lt;DataDirectory&gt;/blobs</c>. No lock file.
    /// </summary>
    internal static MailStore OpenOnStreams(MailStoreOptions options, Stream data, Stream log)
    {
        options.Validate();
        var dataStream = new DurableStream(data, null);
        return new MailStore(options, dataStream, new DurableStream(log, dataStream), ownsStreams: false, lockFile: null,
            Path.Combine(options.DataDirectory, "blobs"));
    }

    private static FileStream OpenDatabaseFile(string path)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.OpenOrCreate,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            BufferSize = 0, // LiteDB writes whole pages; no second buffer to forget before fsync
        };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        return new FileStream(path, options);
    }

    private static FileStream AcquireLock(string directory)
    {
        var lockPath = Path.Combine(directory, "mailserver.lock");
        var pidPath = Path.Combine(directory, "mailserver.pid");
        FileStream lockFile;
        try
        {
            // FileShare.None is an exclusive flock(2) on Unix, held until the handle closes (or the process dies).
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            int? pid = null;
            try
            {
                if (int.TryParse(File.ReadAllText(pidPath).Trim(), out var p))
                    pid = p;
            }
            catch (IOException)
            {
                // The holder has not written its pid yet; report without it.
            }
            throw new StoreLockedException(directory, pid);
        }
        File.WriteAllText(pidPath, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return lockFile;
    }

    /// <summary>
    /// Stops taking writes, lets the writer finish every accepted request, checkpoints, fsyncs and closes
    /// the files, and releases the directory lock. Subscribers' channels complete.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        lock (_queueLock)
        {
            if (_closing)
                return;
            _closing = true;
            Monitor.PulseAll(_queueLock);
        }
        await Task.Run(_writerThread.Join).ConfigureAwait(false);
        _changes.CompleteAll();
        _keyCache.Dispose();
        if (_ownsStreams)
        {
            _dataStream.Inner.Dispose();
            _logStream.Inner.Dispose();
        }
        _lockFile?.Dispose();
    }

    /// <summary>A copy of a mailbox's current plain key (from the cache or unwrapped now). The caller zeroes it.</summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The master key does not open the mailbox key.</exception>
    private byte[] MailboxKey(BsonDocument mailbox) => CurrentMailboxKey(mailbox).Key;

    /// <summary>
    /// A copy of a mailbox's current plain key and its generation. The document may be older than a mailbox key
    /// rotation that ended meanwhile (its key destroyed): then the mailbox is read again and its new key returned.
    /// </summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The master key does not open the mailbox key.</exception>
    private (byte[] Key, int Generation) CurrentMailboxKey(BsonDocument mailbox)
    {
        var mailboxId = mailbox["_id"].AsString;
        var generation = KeyGenerationOf(mailbox);
        try
        {
            return (_keyCache.Get(Crypto.KeyLedger.SecretId(mailboxId, generation), () => UnwrapMailboxKey(mailbox)), generation);
        }
        catch (System.Security.Cryptography.CryptographicException) when (Collection(Schema.Mailboxes).FindById(mailboxId) is { } fresh && KeyGenerationOf(fresh) != generation)
        {
            return CurrentMailboxKey(fresh);
        }
    }

    /// <summary>The mailbox key of generation <paramref name="generation"/> by mailbox id: the mailbox document is read only
    /// when the key is not cached (every message read needs the key; reading the document each time was half of a
    /// message read's database work).</summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="StaleKeyGenerationException">The mailbox no longer has a key of that generation.</exception>
    private byte[] MailboxKey(string mailboxId, int generation) =>
        _keyCache.Get(Crypto.KeyLedger.SecretId(mailboxId, generation), () => UnwrapMailboxKey(
            Collection(Schema.Mailboxes).FindById(mailboxId) ?? throw new KeyNotFoundException($"No mailbox {mailboxId}."), generation));

    private ILiteCollection<BsonDocument> Collection(string name) => _db.GetCollection(name);

    private DateTimeOffset Now => _time.GetUtcNow();
}
