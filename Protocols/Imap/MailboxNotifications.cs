using MailServer.Protocols.Imap.Commands;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap;

/// <summary>
/// What one session asked for with NOTIFY SET (RFC 5465) and the feed it is told from. The session subscribes to the
/// store's change feed for the user's own mailbox (the same feed IDLE waits on, never polled) and, whenever it waits
/// for the client's next command or is in IDLE, writes what the event groups ask for: for the selected mailbox
/// EXISTS / EXPUNGE / FETCH at once (<c>selected</c>; <c>selected-delayed</c> keeps EXPUNGE for a command that allows
/// it), with the FETCH items of <c>MessageNew (...)</c>; for other mailboxes an unsolicited STATUS (MessageNew,
/// MessageExpunge, FlagChange) or LIST (MailboxName, SubscriptionChange). A feed that overflowed ends it all with
/// <c>* OK [NOTIFICATIONOVERFLOW]</c>, as if the client had sent NOTIFY NONE (RFC 5465 §5.8). Owned by one session.
/// Other users' folders the session can see under "Other Users/…" (Full Access, or shared with SETACL) are followed
/// too, from their owners' feeds: the owners are those the user can see at NOTIFY SET; a folder is told of only while
/// the user holds l and r on it (RFC 5465 §5 with RFC 4314 §4: STATUS needs r, a folder without l does not exist),
/// decided at each event. <c>personal</c> and <c>inboxes</c> never take them (RFC 5465 §6: the personal namespace).
/// MailboxMetadataChange / ServerMetadataChange (RFC 5465 §5 with RFC 5464 §4.4.2) come as <c>* METADATA name entry
/// ...</c> naming the entries that changed. The store's change says only "the annotations of folder X (or of the
/// mailbox) changed"; the session opens the entries it may see (as GETMETADATA would: r on a shared folder, never
/// another user's /private ones) and compares them with digests of what it saw before, so no entry name travels
/// through the feed. Owned by one session.
/// </summary>
internal sealed class MailboxNotifications : IDisposable
{
    /// <summary>The events offered (RFC 5465 §5); anything else is refused with BADEVENT listing these.</summary>
    public static readonly ValueList<string> Supported = ValueList.Of("MessageNew", "MessageExpunge", "FlagChange", "MailboxName", "SubscriptionChange",
        "MailboxMetadataChange", "ServerMetadataChange");

    private static readonly StatusItem[] BaseItems = [StatusItem.Messages, StatusItem.UidNext, StatusItem.UidValidity, StatusItem.Unseen];

    private readonly IImapStore _store;
    private readonly string _mailboxId;
    private readonly List<Group> _groups;
    // The user's own mailbox first, then each other user's mailbox the session could see at NOTIFY SET.
    private readonly List<Followed> _followed;
    // The folders by id (own, and others' the user may look up), client names: kept to match names against the groups
    // and to tell renames.
    private Dictionary<string, Known> _folders;
    // The subscribed names as last told (SubscriptionChange), to tell what a change added or removed.
    private HashSet<string> _subscribed;
    // Per annotation scope (a folder id, or "" for the server entries): entry name → SHA-256 of the value as last seen,
    // to tell which entries a MetadataChanged touched. Digests, not values: nothing of the annotations is kept.
    private readonly Dictionary<string, Dictionary<string, byte[]>> _metadataSeen = new(StringComparer.Ordinal);

    private sealed record Group(NotifyFilter Filter, IReadOnlyList<string> Names, IReadOnlySet<string> Events, ValueList<FetchItem>? NewItems)
    {
        public bool Wants(string @event) => Events.Contains(@event);
        public bool HasMessageEvents => Wants("MessageNew") || Wants("MessageExpunge") || Wants("FlagChange");
    }

    /// <summary>A mailbox whose feed is followed; <paramref name="OwnerEmail"/> null for the user's own.</summary>
    private sealed record Followed(string MailboxId, string? OwnerEmail, IChangeSubscription Subscription);

    /// <summary>A folder as the client knows it; <paramref name="OwnerEmail"/> null for the user's own.</summary>
    private sealed record Known(string MailboxId, string? OwnerEmail, string ClientName);

    private MailboxNotifications(ImapSession session, List<Group> groups)
    {
        _store = session.Store;
        _mailboxId = session.Account.MailboxId;
        _groups = groups;
        _followed = [];
        try
        {
            // Subscribed first, so no change between it and the listing is lost.
            _followed.Add(new Followed(_mailboxId, null, _store.Changes.Subscribe(_mailboxId)));
            if (groups.Any(g => g.Filter is NotifyFilter.Subscribed or NotifyFilter.Subtree or NotifyFilter.Mailboxes))
            {
                foreach (var owner in MailboxNames.FullAccessOwners(session).Concat(MailboxNames.SharingOwners(session)))
                {
                    if (_store.FindMailbox(owner.OrganizationId, owner.Email) is { } mailbox && _followed.All(f => f.MailboxId != mailbox.MailboxId))
                        _followed.Add(new Followed(mailbox.MailboxId, owner.Email, _store.Changes.Subscribe(mailbox.MailboxId)));
                }
            }
            _folders = ListFolders(session);
            _subscribed = [.. _store.ListSubscriptions(_mailboxId)];
            if (WantsServerMetadata)
                _metadataSeen[""] = Digests(ReadVisibleMetadata(null, null));
            if (_groups.Any(g => g.Wants("MailboxMetadataChange")))
            {
                var rights = new RightsOnce(session);
                foreach (var (folderId, known) in _folders)
                    if (rights.MayRead(known, folderId))
                        _metadataSeen[folderId] = Digests(ReadVisibleMetadata(known, folderId));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Checks a NOTIFY SET's event groups and starts following the feed for them.</summary>
    /// <exception cref="ImapSyntaxException">The groups break a rule of RFC 5465 §5 (BAD).</exception>
    /// <exception cref="ImapRefusedException">An event is not offered: <c>NO [BADEVENT (...)]</c> (RFC 5465 §5.9).</exception>
    public static MailboxNotifications Start(ImapSession session, IReadOnlyList<NotifyEventGroup> groups)
    {
        var checkedGroups = new List<Group>();
        var unsupported = false;
        foreach (var group in groups)
        {
            var names = group.Events.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            // RFC 5465 §5: MessageNew and MessageExpunge go together; FlagChange / AnnotationChange need both.
            if (names.Contains("MessageNew") != names.Contains("MessageExpunge"))
                throw new ImapSyntaxException("MessageNew and MessageExpunge must be asked for together");
            if ((names.Contains("FlagChange") || names.Contains("AnnotationChange")) && !names.Contains("MessageNew"))
                throw new ImapSyntaxException("FlagChange needs MessageNew and MessageExpunge");
            var newItems = group.Events.FirstOrDefault(e => e.FetchItems is not null)?.FetchItems;
            // RFC 5465 §5.1: the FETCH items of MessageNew are for the selected mailbox only.
            if (newItems is not null && group.Filter is not (NotifyFilter.Selected or NotifyFilter.SelectedDelayed))
                throw new ImapSyntaxException("MessageNew FETCH items are only for the selected mailbox");
            if (names.Any(n => !Supported.Contains(n)))
                unsupported = true;
            var mailboxNames = group.Mailboxes.Select(m => MailboxName.FromWire(m, session.Utf8Enabled)).ToList();
            checkedGroups.Add(new Group(group.Filter, mailboxNames, names, newItems));
        }
        if (unsupported)
            throw new ImapRefusedException(new ResponseCode.UnsupportedEvents(Supported), "Some of these events are not offered");
        return new MailboxNotifications(session, checkedGroups);
    }

    /// <summary>The group for the selected mailbox (<c>selected</c> or <c>selected-delayed</c>), or null.</summary>
    private Group? SelectedGroup => _groups.FirstOrDefault(g => g.Filter is NotifyFilter.Selected or NotifyFilter.SelectedDelayed);

    /// <summary>Changes of the selected mailbox are written as they happen, not only after commands.</summary>
    public bool PushesSelected => SelectedGroup is { Events.Count: > 0 };

    /// <summary>Waits until a followed feed has a change; false when the store is closing.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async ValueTask<bool> WaitAsync(CancellationToken cancellationToken)
    {
        if (_followed.Count == 1)
            return await _followed[0].Subscription.Reader.WaitToReadAsync(cancellationToken);
        using var round = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var waits = _followed.Select(f => f.Subscription.Reader.WaitToReadAsync(round.Token).AsTask()).ToList();
        try
        {
            while (waits.Count > 0)
            {
                var first = await Task.WhenAny(waits);
                if (await first)
                    return true;
                waits.Remove(first); // that feed completed: the store is closing
            }
            return false;
        }
        finally
        {
            await round.CancelAsync();
        }
    }

    /// <summary>Writes the initial STATUS of every mailbox the groups name for message events, the selected one
    /// excepted (NOTIFY SET STATUS, RFC 5465 §3.1).</summary>
    public void WriteInitialStatus(ImapSession session)
    {
        _subscriptions = null;
        var rights = new RightsOnce(session);
        foreach (var (folderId, known) in _folders.OrderBy(f => f.Value.ClientName, StringComparer.Ordinal))
            if (folderId != session.Selected?.FolderId && GroupFor(known.ClientName) is { HasMessageEvents: true } && rights.MayRead(known, folderId))
                WriteStatus(session, folderId, known.ClientName);
    }

    /// <summary>The rights on other users' folders, read once per mailbox for one batch of events.</summary>
    private sealed class RightsOnce(ImapSession session)
    {
        private readonly Dictionary<string, Func<string?, string>> _byMailbox = new(StringComparer.Ordinal);

        /// <summary>True when the user may look the folder up and read it now (l and r, RFC 4314 §4: STATUS needs r).</summary>
        public bool MayRead(Known folder, string folderId)
        {
            if (folder.OwnerEmail is null)
                return true;
            if (!_byMailbox.TryGetValue(folder.MailboxId, out var rightsOn))
                _byMailbox[folder.MailboxId] = rightsOn = FolderRights.InMailbox(session, folder.OwnerEmail, folder.MailboxId);
            var rights = rightsOn(folderId);
            return rights.Contains('l', StringComparison.Ordinal) && rights.Contains('r', StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Writes what happened since the last call: the selected mailbox's changes when <paramref name="selectedToo"/>,
    /// then STATUS / LIST for the other mailboxes. Ends the notifications after an overflow (the session's
    /// <see cref="ImapSession.Notifications"/> is cleared).
    /// </summary>
    public async Task WriteAsync(ImapSession session, bool selectedToo, CancellationToken cancellationToken)
    {
        if (selectedToo && PushesSelected)
            await WriteSelectedAsync(session, cancellationToken);
        if (_followed.Any(f => f.Subscription.Overflowed))
        {
            // RFC 5465 §5.8: events were lost; say so and stop, as after NOTIFY NONE. The selected mailbox resyncs itself.
            session.Writer.Untagged(ImapStatus.Ok, ResponseCode.NotificationOverflow, "Too many events; notifications stopped");
            session.Notifications = null;
            Dispose();
            return;
        }
        _subscriptions = null;
        var changed = new List<string>();
        var foldersChanged = false;
        var subscriptionsChanged = false;
        var metadataChanged = new List<string>();
        foreach (var followed in _followed)
        {
            while (followed.Subscription.Reader.TryRead(out var change))
            {
                if (change is MailboxChange.MetadataChanged)
                {
                    // Another owner's server entries are theirs: only folder scopes of their mailbox are followed.
                    if ((change.FolderId.Length > 0 || followed.OwnerEmail is null) && !metadataChanged.Contains(change.FolderId))
                        metadataChanged.Add(change.FolderId);
                    continue;
                }
                if (change is MailboxChange.SubscriptionsChanged)
                {
                    // CREATE subscribes, RENAME moves a subscription: both kinds are diffed. Another owner's
                    // subscriptions are theirs, not the user's.
                    subscriptionsChanged |= followed.OwnerEmail is null;
                    foldersChanged |= followed.OwnerEmail is null;
                    continue;
                }
                if (change is MailboxChange.FoldersChanged)
                {
                    // Also an owner's SETACL / DELETEACL: what the user may look up is listed again.
                    foldersChanged = true;
                    subscriptionsChanged |= followed.OwnerEmail is null;
                    continue;
                }
                var @event = change switch
                {
                    MailboxChange.MessageAdded => "MessageNew",
                    MailboxChange.MessagesExpunged => "MessageExpunge",
                    _ => "FlagChange",
                };
                // The selected mailbox is told by EXISTS / EXPUNGE / FETCH, never by STATUS.
                if (change.FolderId == session.Selected?.FolderId || changed.Contains(change.FolderId))
                    continue;
                if (_folders.TryGetValue(change.FolderId, out var known) && GroupFor(known.ClientName) is { } group && group.Wants(@event))
                    changed.Add(change.FolderId);
            }
        }
        if (foldersChanged)
            WriteMailboxNames(session);
        if (subscriptionsChanged)
            WriteSubscriptions(session);
        var rights = new RightsOnce(session);
        foreach (var folderId in changed)
            if (_folders.TryGetValue(folderId, out var known) && rights.MayRead(known, folderId))
                WriteStatus(session, folderId, known.ClientName);
        foreach (var scope in metadataChanged)
            WriteMetadataChange(session, scope, rights);
    }

    private bool WantsServerMetadata => _groups.Any(g => g.Wants("ServerMetadataChange"));

    // RFC 5465 §5 MailboxMetadataChange / ServerMetadataChange: "* METADATA mailbox entry ..." in the unsolicited form
    // of RFC 5464 §4.4.2, naming the entries set, changed or removed since last seen; the client fetches values itself.
    private void WriteMetadataChange(ImapSession session, string scope, RightsOnce rights)
    {
        string name;
        Dictionary<string, byte[]> now;
        if (scope.Length == 0)
        {
            if (!WantsServerMetadata)
                return;
            name = "";
            now = Digests(ReadVisibleMetadata(null, null));
        }
        else
        {
            if (!_folders.TryGetValue(scope, out var known))
                return; // a folder the user may not look up (RFC 4314 §6)
            var group = scope == session.Selected?.FolderId && SelectedGroup is { } selected ? selected : GroupFor(known.ClientName);
            if (group?.Wants("MailboxMetadataChange") != true)
                return;
            if (!rights.MayRead(known, scope))
            {
                _metadataSeen.Remove(scope); // what the user can no longer read is not compared; seen afresh if read again
                return;
            }
            name = known.ClientName;
            now = Digests(ReadVisibleMetadata(known, scope));
        }
        var before = _metadataSeen.GetValueOrDefault(scope) ?? []; // not seen before: a folder created since, with none
        _metadataSeen[scope] = now;
        var touched = now.Where(e => !before.TryGetValue(e.Key, out var old) || !old.AsSpan().SequenceEqual(e.Value)).Select(e => e.Key)
            .Concat(before.Keys.Where(k => !now.ContainsKey(k)))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (touched.Count == 0)
            return;
        var w = session.Writer.BeginUntagged().Atom("METADATA");
        if (name.Length == 0)
            w.String("");
        else
            w.Mailbox(name);
        foreach (var entry in touched)
            w.AString(entry);
        w.End();
    }

    // The entries GETMETADATA would show (RFC 5464 §3.2): the server scope of the user's own mailbox (folder null), or a
    // folder's, without another user's /private entries.
    private IReadOnlyDictionary<string, byte[]> ReadVisibleMetadata(Known? folder, string? folderId)
    {
        var entries = _store.ReadMetadata(folder?.MailboxId ?? _mailboxId, folderId);
        return folder?.OwnerEmail is null
            ? entries
            : entries.Where(e => !MetadataEntries.IsPrivate(e.Key)).ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
    }

    private static Dictionary<string, byte[]> Digests(IReadOnlyDictionary<string, byte[]> entries) =>
        entries.ToDictionary(e => e.Key, e => System.Security.Cryptography.SHA256.HashData(e.Value), StringComparer.Ordinal);

    /// <summary>The selected mailbox's changes now (RFC 5465 §6.1, §6.2), with MessageNew's FETCH items for the
    /// messages that arrived, and CONTEXT updates (RFC 5465 §9 updates RFC 5267).</summary>
    /// <param name="session">The session.</param>
    /// <param name="cancellationToken">Ends the FETCH of new messages.</param>
    /// <param name="allowExpunge">EXPUNGE may go out now whatever the filter (IDLE); by default only for <c>selected</c>.</param>
    public async Task WriteSelectedAsync(ImapSession session, CancellationToken cancellationToken, bool allowExpunge = false)
    {
        if (session.Selected is not { } selected || SelectedGroup is not { } group)
            return;
        var before = selected.MaxUid;
        selected.WriteUpdates(session.Writer, allowExpunge || group.Filter == NotifyFilter.Selected, session.CondStoreEnabled, session.QResyncEnabled, session.UidOnlyEnabled);
        if (group.NewItems is { Count: > 0 } items && selected.MaxUid > before)
        {
            var arrived = SequenceSet.Of(new SequenceRange(before + 1, selected.MaxUid));
            try
            {
                await FetchHandler.RunAsync(new FetchCommand("*", true, arrived, items, null, false), session, cancellationToken);
            }
            catch (ImapCommandException)
            {
                // expunged meanwhile, or an item that cannot be given: the client fetches it itself
            }
        }
        await SearchUpdates.WriteAsync(session, cancellationToken);
    }

    // The subscriptions as read once per batch of events (the subscribed filter); null until needed.
    private IReadOnlyList<string>? _subscriptions;

    private Group? GroupFor(string name)
    {
        // RFC 5465 §6: the first group whose filter takes the mailbox decides.
        foreach (var group in _groups)
        {
            var matches = group.Filter switch
            {
                NotifyFilter.Inboxes => name == WellKnownFolders.Inbox,
                NotifyFilter.Personal => !MailboxNames.IsOtherUsersName(name), // RFC 5465 §6: the personal namespace only
                NotifyFilter.Subscribed => (_subscriptions ??= _store.ListSubscriptions(_mailboxId)).Contains(name, StringComparer.Ordinal),
                NotifyFilter.Subtree => group.Names.Any(n => name == n || name.StartsWith(n + MailboxNames.Delimiter, StringComparison.Ordinal)),
                NotifyFilter.Mailboxes => group.Names.Contains(name, StringComparer.Ordinal),
                _ => false, // selected / selected-delayed: the selected mailbox, told by other responses
            };
            if (matches)
                return group;
        }
        return null;
    }

    private void WriteStatus(ImapSession session, string folderId, string name)
    {
        if (_store.GetFolder(folderId) is not { } folder)
            return;
        // RFC 5465 §5.1–§5.3: MESSAGES and UIDNEXT (and UNSEEN for flag changes), HIGHESTMODSEQ once CONDSTORE is on.
        StatusItem[] items = session.CondStoreEnabled ? [.. BaseItems, StatusItem.HighestModSeq] : BaseItems;
        StatusHandler.WriteStatus(session, folder, items, name);
    }

    // RFC 5465 §5.4 MailboxName: LIST for a new mailbox, LIST (\NonExistent) for a deleted one, and LIST with the
    // OLDNAME extended item (RFC 5258 §3 / RFC 9051 §7.3.1) for a renamed one; each when the old or new name matches a
    // group that asked for MailboxName.
    private void WriteMailboxNames(ImapSession session)
    {
        var now = ListFolders(session);
        var w = session.Writer;
        foreach (var (id, (_, _, oldName)) in _folders)
        {
            if (!now.TryGetValue(id, out var known))
            {
                if (GroupFor(oldName)?.Wants("MailboxName") == true)
                    w.BeginUntagged().Atom("LIST").BeginList().Atom(@"\NonExistent").EndList().String(MailboxNames.Delimiter).Mailbox(oldName).End();
            }
            else if (known.ClientName is var newName && newName != oldName && (GroupFor(oldName)?.Wants("MailboxName") == true || GroupFor(newName)?.Wants("MailboxName") == true))
            {
                w.BeginUntagged().Atom("LIST").BeginList().EndList().String(MailboxNames.Delimiter).Mailbox(newName)
                    .BeginList().String("OLDNAME").BeginList().Mailbox(oldName).EndList().EndList().End();
            }
        }
        foreach (var (id, (_, _, name)) in now)
            if (!_folders.ContainsKey(id) && GroupFor(name)?.Wants("MailboxName") == true)
                w.BeginUntagged().Atom("LIST").BeginList().EndList().String(MailboxNames.Delimiter).Mailbox(name).End();
        _folders = now;
    }

    // RFC 5465 §5.5 SubscriptionChange: LIST (\Subscribed) for a name subscribed, LIST () for one unsubscribed.
    private void WriteSubscriptions(ImapSession session)
    {
        var now = _store.ListSubscriptions(_mailboxId).ToHashSet(StringComparer.Ordinal);
        var w = session.Writer;
        _subscriptions = [.. _subscribed]; // a `subscribed` group matches a name unsubscribed by what it was before
        foreach (var name in _subscribed.Where(n => !now.Contains(n)).Order(StringComparer.Ordinal))
            if (GroupFor(name)?.Wants("SubscriptionChange") == true)
                w.BeginUntagged().Atom("LIST").BeginList().EndList().String(MailboxNames.Delimiter).Mailbox(name).End();
        _subscriptions = [.. now];
        foreach (var name in now.Where(n => !_subscribed.Contains(n)).Order(StringComparer.Ordinal))
            if (GroupFor(name)?.Wants("SubscriptionChange") == true)
                w.BeginUntagged().Atom("LIST").BeginList().Atom(@"\Subscribed").EndList().String(MailboxNames.Delimiter).Mailbox(name).End();
        _subscribed = now;
    }

    // The user's folders, then the folders of each followed owner the user may look up now (RFC 4314 §4: l).
    private Dictionary<string, Known> ListFolders(ImapSession session)
    {
        var folders = _store.ListFolders(_mailboxId).ToDictionary(f => f.FolderId, f => new Known(_mailboxId, null, f.Name), StringComparer.Ordinal);
        foreach (var (mailboxId, owner, _) in _followed)
        {
            if (owner is null)
                continue;
            var rightsOn = FolderRights.InMailbox(session, owner, mailboxId);
            foreach (var folder in _store.ListFolders(mailboxId))
                if (rightsOn(folder.FolderId).Contains('l', StringComparison.Ordinal))
                    folders[folder.FolderId] = new Known(mailboxId, owner, $"{MailboxNames.OtherUsersRoot}/{owner}/{folder.Name}");
        }
        return folders;
    }

    /// <summary>Stops following the feeds.</summary>
    public void Dispose()
    {
        foreach (var followed in _followed)
            followed.Subscription.Dispose();
    }
}
