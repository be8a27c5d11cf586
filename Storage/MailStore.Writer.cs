using LiteDB;
using MailServer.Storage.Crypto;

namespace MailServer.Storage;

// The single writer (docs/dependencies.md, "LiteDB": concurrent writers corrupt the file). Every LiteDB write,
// in every collection, runs on _writerThread inside a transaction it began; nothing awaits inside one.
public sealed partial class MailStore
{
    private readonly Thread _writerThread;
    private readonly object _queueLock = new(); // Monitor.Wait/Pulse
    private readonly Queue<WriteRequest> _queue = new();
    private bool _closing;
    private long _batches;
    private long _requests;
    private long _directorySyncTicks;
    private long _transactionTicks;
    private long _logSyncTicks;
    private long _writesOffWriterThread;
    private int _activeWriters;
    private int _maxActiveWriters;

    /// <summary>What the writer has done since the store opened (for the bench tool and metrics).</summary>
    public WriterStatistics Statistics => new(
        Interlocked.Read(ref _batches),
        Interlocked.Read(ref _requests),
        System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _directorySyncTicks)),
        System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _transactionTicks)),
        System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _logSyncTicks)));

    /// <summary>How many group commits (transactions + fsync) the writer has made.</summary>
    internal long Batches => Interlocked.Read(ref _batches);

    /// <summary>Writes attempted outside the writer thread (always refused; must stay 0).</summary>
    internal long WritesOffWriterThread => Interlocked.Read(ref _writesOffWriterThread);

    /// <summary>The most writer contexts ever active at once (must stay 1).</summary>
    internal int MaxConcurrentWriters => Volatile.Read(ref _maxActiveWriters);

    internal int WriterThreadId => _writerThread.ManagedThreadId;

    /// <summary>Write requests waiting for the writer.</summary>
    internal int PendingWrites { get { lock (_queueLock) return _queue.Count; } }

    /// <summary>fsyncs of the LiteDB log stream (one per group commit that wrote something).</summary>
    internal long LogFsyncs => _logStream.Fsyncs;

    /// <summary>fsyncs of the LiteDB data stream (after checkpoints).</summary>
    internal long DataFsyncs => _dataStream.Fsyncs;

    /// <summary>
    /// Queues <paramref name="operation"/> for the writer. It runs on the writer thread inside a transaction,
    /// and the task completes after the transaction is committed and fsync'd. <paramref name="pathsToSync"/> (blob
    /// files just written and their directories, <see cref="Blobs.BlobStore.SyncPaths"/>) are fsync'd, all at once,
    /// before the commit that refers to them. An operation must throw before it
    /// writes when it refuses (validation); if it throws after writing, the whole batch is rolled back and
    /// every request in it is replayed alone. Cancellation is honoured only until the writer takes the request.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The store is closing.</exception>
    internal Task<T> RunOnWriter<T>(Func<WriterContext, T> operation, IReadOnlyCollection<string> pathsToSync, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var request = new WriteRequest<T>(operation, pathsToSync);
        lock (_queueLock)
        {
            ObjectDisposedException.ThrowIf(_closing && Environment.CurrentManagedThreadId != WriterThreadId, this);
            _queue.Enqueue(request);
            if (_queue.Count == 1)
                Monitor.Pulse(_queueLock);
        }
        return request.Task;
    }

    /// <summary>At most this many fsyncs at once before a commit (a batch may carry a file for each of its requests).</summary>
    private static readonly ParallelOptions SyncParallelism = new() { MaxDegreeOfParallelism = 16 };

    private void WriterLoop()
    {
        var batch = new List<WriteRequest>(_options.MaxBatchSize);
        var context = new WriterContext(this);
        while (true)
        {
            batch.Clear();
            lock (_queueLock)
            {
                while (_queue.Count == 0 && !_closing)
                    Monitor.Wait(_queueLock);
                if (_queue.Count == 0 && _closing)
                    break;
                while (_queue.Count > 0 && batch.Count < _options.MaxBatchSize)
                    batch.Add(_queue.Dequeue());
            }
            try
            {
                CommitBatch(context, batch);
            }
            catch (Exception ex)
            {
                // Commit or fsync failed: the outcome on disk is unknown, so nobody is told "durable".
                StoreLog.WriterFailed(_log, ex);
                // Whatever reached the disk, the caches no longer know: they reload from the database on next use.
                ForgetFolders([WriterContext.AllMailboxes]);
                MetadataCache?.Clear();
                foreach (var request in batch)
                    request.Fail(ex, rolledBack: false);
            }
        }

        try
        {
            _db.Checkpoint();
            _db.Dispose();
            _logStream.FlushToDisk();
            _dataStream.FlushToDisk();
        }
        catch (Exception ex)
        {
            StoreLog.WriterFailed(_log, ex);
        }
    }

    private void CommitBatch(WriterContext context, List<WriteRequest> batch)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // The bodies and their directory entries are durable before any entry refers to them. Concurrent fsyncs
        // share journal commits; one after another, each would wait for its own.
        var paths = batch.SelectMany(r => r.PathsToSync).Distinct(StringComparer.Ordinal).ToList();
        if (paths.Count == 1)
            Durability.FsyncPath(paths[0]);
        else if (paths.Count > 1)
            Parallel.ForEach(paths, SyncParallelism, Durability.FsyncPath);
        Interlocked.Add(ref _directorySyncTicks, System.Diagnostics.Stopwatch.GetTimestamp() - started);

        if (!TryRunBatch(context, batch))
        {
            // An operation threw after writing: replay each request in a transaction of its own so one bad
            // request cannot take the others down.
            foreach (var request in batch)
                TryRunBatch(context, [request]);
        }
    }

    /// <summary>Runs requests in one transaction. False when it had to roll back for a mid-write failure.</summary>
    private bool TryRunBatch(WriterContext context, List<WriteRequest> batch)
    {
        var succeeded = new List<WriteRequest>(batch.Count);
        var changes = new List<MailboxChange>();
        var afterCommit = new List<Action>();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        context.FolderListsTouched.Clear();
        context.ClearWrittenEntries();
        context.Enter();
        try
        {
            _db.BeginTrans();
            foreach (var request in batch)
            {
                if (request.IsDone)
                    continue;
                context.BeginRequest();
                try
                {
                    request.Run(context);
                    RecordTombstones(context);
                    succeeded.Add(request);
                    changes.AddRange(context.Changes);
                    afterCommit.AddRange(context.AfterCommit);
                }
                catch (Exception ex) when (context.Mutations == 0)
                {
                    request.Fail(ex, rolledBack: true);
                }
                catch (Exception ex) when (batch.Count == 1)
                {
                    _db.Rollback();
                    request.Fail(ex, rolledBack: true);
                    return true;
                }
                catch (Exception ex)
                {
                    StoreLog.BatchRolledBack(_log, ex);
                    _db.Rollback();
                    return false;
                }
            }
            _db.Commit();
        }
        finally
        {
            context.Exit();
        }

        // Group commit: one fsync for every request in the batch, then everyone is told.
        var committed = System.Diagnostics.Stopwatch.GetTimestamp();
        _logStream.FlushToDisk();
        _dataStream.FlushToDisk();
        Interlocked.Add(ref _transactionTicks, committed - started);
        Interlocked.Add(ref _logSyncTicks, System.Diagnostics.Stopwatch.GetTimestamp() - committed);
        Interlocked.Increment(ref _batches);
        Interlocked.Add(ref _requests, succeeded.Count);
        foreach (var action in afterCommit)
        {
            try { action(); }
            catch (Exception ex) { StoreLog.AfterCommitFailed(_log, ex); }
        }
        // The shared caches learn of the commit before anyone is told of it (writers, then the feed).
        ForgetFolders(context.FolderListsTouched);
        ApplyToMetadataCache(changes, context.WrittenEntries);
        foreach (var request in succeeded)
            request.Complete();
        _changes.Publish(changes);
        return true;
    }

    /// <summary>The writer's view of the database: the only way to write, and only on the writer thread.</summary>
    internal sealed class WriterContext(MailStore store)
    {
        private int _mutations;

        public List<MailboxChange> Changes { get; } = [];
        public List<Action> AfterCommit { get; } = [];

        /// <summary>Mailboxes whose folder documents this batch wrote (<see cref="AllMailboxes"/> for a delete), so
        /// their cached folder lists (and, for a delete, the known folders) are dropped after the commit. Cleared when a batch starts: a rolled-back batch
        /// committed nothing.</summary>
        public HashSet<string> FolderListsTouched { get; } = new(StringComparer.Ordinal);

        /// <summary>
        /// The entry documents this batch inserted or updated, by folder and UID, as committed: the metadata cache is
        /// patched from them instead of reading each entry back. Null once the batch deleted any entry (a message added
        /// and expunged in one batch must not reach the cache), so the cache reads from the database as before.
        /// </summary>
        public Dictionary<(string FolderId, uint Uid), BsonDocument>? WrittenEntries { get; private set; } = [];

        public void ClearWrittenEntries() => WrittenEntries = [];

        /// <summary>Stands for every mailbox in <see cref="FolderListsTouched"/>.</summary>
        public const string AllMailboxes = "*";

        public int Mutations => _mutations;
        public MailStore Store => store;

        public void BeginRequest()
        {
            _mutations = 0;
            Changes.Clear();
            AfterCommit.Clear();
        }

        public void Enter()
        {
            var active = Interlocked.Increment(ref store._activeWriters);
            int seen;
            while (active > (seen = Volatile.Read(ref store._maxActiveWriters)))
                Interlocked.CompareExchange(ref store._maxActiveWriters, active, seen);
        }

        public void Exit() => Interlocked.Decrement(ref store._activeWriters);

        public ILiteCollection<BsonDocument> Read(string collection) => store._db.GetCollection(collection);

        public void Insert(string collection, BsonDocument document)
        {
            Guard();
            store._db.GetCollection(collection).Insert(document);
            TouchFolder(collection, document);
            RememberEntry(collection, document);
        }

        public void Update(string collection, BsonDocument document)
        {
            Guard();
            if (!store._db.GetCollection(collection).Update(document))
                throw new InvalidOperationException($"No document {document["_id"]} in {collection} to update.");
            TouchFolder(collection, document);
            RememberEntry(collection, document);
        }

        public void Delete(string collection, BsonValue id)
        {
            Guard();
            store._db.GetCollection(collection).Delete(id);
            TouchFolder(collection, null);
            ForgetEntries(collection);
        }

        public void DeleteMany(string collection, BsonExpression predicate)
        {
            Guard();
            store._db.GetCollection(collection).DeleteMany(predicate);
            TouchFolder(collection, null);
            ForgetEntries(collection);
        }

        private void TouchFolder(string collection, BsonDocument? document)
        {
            if (collection == Schema.Folders)
                FolderListsTouched.Add(document?[Schema.FolderFields.MailboxId].AsString ?? AllMailboxes);
        }

        private void RememberEntry(string collection, BsonDocument document)
        {
            if (collection == Schema.Entries && WrittenEntries is { } written)
                written[(document[Schema.EntryFields.FolderId].AsString, (uint)document[Schema.EntryFields.Uid].AsInt64)] = document;
        }

        private void ForgetEntries(string collection)
        {
            if (collection == Schema.Entries)
                WrittenEntries = null;
        }

        public void Initialise()
        {
            Guard();
            Schema.EnsureIndexes(store._db);
            var meta = store._db.GetCollection(Schema.Meta);
            if (meta.FindById(Schema.MetaId) is null)
                meta.Insert(new BsonDocument
                {
                    ["_id"] = Schema.MetaId,
                    [Schema.MetaFields.SchemaVersion] = Schema.Version,
                    [Schema.MetaFields.LastUidValidity] = 0L,
                });
        }

        /// <summary>A fresh UIDVALIDITY: seconds since the epoch, but never equal to one handed out before.</summary>
        public uint NextUidValidity()
        {
            var meta = store._db.GetCollection(Schema.Meta).FindById(Schema.MetaId);
            var last = meta[Schema.MetaFields.LastUidValidity].AsInt64;
            var next = Math.Max(store.Now.ToUnixTimeSeconds(), last + 1);
            if (next > uint.MaxValue)
                throw new InvalidOperationException("UIDVALIDITY space exhausted.");
            meta[Schema.MetaFields.LastUidValidity] = next;
            Update(Schema.Meta, meta);
            return (uint)next;
        }

        private void Guard()
        {
            if (Environment.CurrentManagedThreadId != store.WriterThreadId)
            {
                Interlocked.Increment(ref store._writesOffWriterThread);
                throw new InvalidOperationException("LiteDB writes are only allowed on the store's writer thread.");
            }
            _mutations++;
        }
    }

    internal abstract class WriteRequest(IReadOnlyCollection<string> pathsToSync)
    {
        public IReadOnlyCollection<string> PathsToSync { get; } = pathsToSync;
        public abstract bool IsDone { get; }
        public abstract void Run(WriterContext context);
        public abstract void Complete();
        public abstract void Fail(Exception exception, bool rolledBack);
    }

    private sealed class WriteRequest<T>(Func<WriterContext, T> operation, IReadOnlyCollection<string> pathsToSync)
        : WriteRequest(pathsToSync)
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Task => _completion.Task;
        public override bool IsDone => _completion.Task.IsCompleted;
        public override void Run(WriterContext context) => _result = operation(context);
        public override void Complete() => _completion.TrySetResult(_result!);

        public override void Fail(Exception exception, bool rolledBack) =>
            _completion.TrySetException(rolledBack ? exception : new WriteOutcomeUnknownException(exception));
    }
}

/// <summary>Counters of the store's writer.</summary>
/// <param name="Batches">Group commits (one transaction and one log fsync each).</param>
/// <param name="Requests">Write requests committed.</param>
/// <param name="DirectorySync">Time spent fsyncing blob files and their directories before commits.</param>
/// <param name="Transactions">Time spent inside LiteDB transactions.</param>
/// <param name="LogSync">Time spent fsyncing the database files after commits.</param>
public sealed record WriterStatistics(long Batches, long Requests, TimeSpan DirectorySync, TimeSpan Transactions, TimeSpan LogSync);

/// <summary>
/// The commit or its fsync failed: the write may or may not be on disk. Treat as a temporary failure; nothing
/// was acknowledged. <c>mailserver reindex</c> reconciles blobs and entries.
/// </summary>
public sealed class WriteOutcomeUnknownException(Exception inner)
    : IOException("The store could not confirm the write was made durable.", inner);
