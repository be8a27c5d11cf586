using LiteDB;

namespace MailServer.Storage;

// Expunged UIDs are remembered with the MODSEQ of their expunge, so QRESYNC (RFC 7162 §3.2.5, §3.2.6) can answer
// VANISHED (EARLIER) exactly instead of approximating from sequence-match data. One document per expunge: the
// folder, the MODSEQ and the UIDs (ids and numbers only, nothing sealed is needed).
public sealed partial class MailStore
{
    /// <summary>
    /// The UIDs expunged from a folder by changes with a MODSEQ above <paramref name="modSeq"/>, ascending, without
    /// duplicates. A folder that was deleted has none. Messages expunged before tombstones were kept are not known.
    /// </summary>
    public IReadOnlyList<uint> ListExpungedSince(string folderId, ulong modSeq)
    {
        ArgumentException.ThrowIfNullOrEmpty(folderId);
        var found = Collection(Schema.Tombstones).Find(BsonExpression.Create(
            $"$.{Schema.TombstoneFields.FolderId} = @0 AND $.{Schema.TombstoneFields.ModSeq} > @1", folderId, (long)Math.Min(modSeq, long.MaxValue)));
        var uids = new SortedSet<uint>();
        foreach (var document in found)
            foreach (var uid in document[Schema.TombstoneFields.Uids].AsArray)
                uids.Add((uint)uid.AsInt64);
        return [.. uids];
    }

    /// <summary>On the writer, inside the request's transaction: a tombstone per expunge the request made, and the
    /// tombstones of folders it deleted are dropped (their UIDVALIDITY dies with them).</summary>
    private static void RecordTombstones(WriterContext ctx)
    {
        foreach (var change in ctx.Changes)
        {
            switch (change)
            {
                case MailboxChange.MessagesExpunged { Uids.Count: > 0 } expunged:
                    ctx.Insert(Schema.Tombstones, new BsonDocument
                    {
                        [Schema.TombstoneFields.FolderId] = expunged.FolderId,
                        [Schema.TombstoneFields.ModSeq] = (long)expunged.ModSeq,
                        [Schema.TombstoneFields.Uids] = new BsonArray(expunged.Uids.Select(u => new BsonValue((long)u))),
                    });
                    break;
                case MailboxChange.FoldersChanged folder when ctx.Read(Schema.Folders).FindById(folder.FolderId) is null:
                    ctx.DeleteMany(Schema.Tombstones, Schema.Equal(Schema.TombstoneFields.FolderId, folder.FolderId));
                    break;
            }
        }
    }
}
