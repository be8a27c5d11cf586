using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace MailServer.Protocols.Imap.Search;

/// <summary>Which text of a message a term came from.</summary>
internal enum TermScope
{
    /// <summary>The decoded text parts (what SEARCH BODY reads).</summary>
    Body = 0,
    /// <summary>Each top-level header field as "Name: decoded value" (what SEARCH TEXT reads besides the body).</summary>
    Header = 1,
    /// <summary>The addresses and display names of the address fields (what FROM / TO / CC / BCC also compare).</summary>
    Address = 2,
}

/// <summary>
/// Builds the plaintext of one index segment (the store seals it): per <see cref="TermScope"/>, the vocabulary of
/// folded terms and for each the ascending UIDs of the messages that hold it. Messages must be added in ascending UID
/// order.
/// </summary>
/// <remarks>Layout: "MSIXSEG1"; per scope: word count (4, LE), vocabulary length (4), the vocabulary (UTF-8 words, each
/// followed by '\n'), word starts (4 each), posting starts (4 each, plus the end), the postings (per word a run of
/// LEB128 varints: the first UID, then the differences).</remarks>
internal sealed class IndexSegmentBuilder
{
    private static ReadOnlySpan<byte> Magic => "MSIXSEG1"u8;
    public const int ScopeCount = 3;

    private readonly Dictionary<string, PostingList>[] _scopes =
        [new(StringComparer.Ordinal), new(StringComparer.Ordinal), new(StringComparer.Ordinal)];
    private readonly char[] _buffer = new char[4096];

    /// <summary>Messages added.</summary>
    public int Documents { get; private set; }

    /// <summary>The lowest and highest UID added.</summary>
    public uint FirstUid { get; private set; }

    /// <inheritdoc cref="FirstUid"/>
    public uint LastUid { get; private set; }

    /// <summary>Adds one message's texts under <paramref name="uid"/> (higher than any added before).</summary>
    public void AddMessage(uint uid, IEnumerable<string> bodyTexts, IEnumerable<string> headerTexts, IEnumerable<string> addressTexts)
    {
        if (Documents > 0 && uid <= LastUid)
            throw new ArgumentException("Messages must be added in ascending UID order.", nameof(uid));
        AddTexts(TermScope.Body, uid, bodyTexts);
        AddTexts(TermScope.Header, uid, headerTexts);
        AddTexts(TermScope.Address, uid, addressTexts);
        Count(uid);
    }

    private void Count(uint uid)
    {
        if (Documents == 0)
            FirstUid = uid;
        LastUid = uid;
        Documents++;
    }

    private void AddTexts(TermScope scope, uint uid, IEnumerable<string> texts)
    {
        var words = _scopes[(int)scope].GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var text in texts)
        {
            SearchTerms.ForEachTerm(text, _buffer, term =>
            {
                if (!words.TryGetValue(term, out var list))
                {
                    list = new PostingList();
                    words[term] = list;
                }
                list.Add(uid);
            });
        }
    }

    /// <summary>Adds the postings of a term read from another segment (merging); UIDs ascending and above those added
    /// for this term so far. Call <see cref="AddDocuments"/> for the messages they belong to.</summary>
    public void AddPostings(TermScope scope, string word, IEnumerable<uint> uids)
    {
        var words = _scopes[(int)scope];
        if (!words.TryGetValue(word, out var list))
            words[word] = list = new PostingList();
        foreach (var uid in uids)
            list.Add(uid);
    }

    /// <summary>Counts messages taken over from another segment (merging).</summary>
    public void AddDocuments(int documents, uint firstUid, uint lastUid)
    {
        if (documents == 0)
            return;
        if (Documents == 0)
            FirstUid = firstUid;
        LastUid = Math.Max(LastUid, lastUid);
        Documents += documents;
    }

    /// <summary>The segment's bytes.</summary>
    public byte[] Build()
    {
        using var output = new MemoryStream();
        output.Write(Magic);
        Span<byte> four = stackalloc byte[4];
        foreach (var scope in _scopes)
        {
            var words = scope.Keys.Order(StringComparer.Ordinal).ToList();
            var vocabulary = new MemoryStream();
            var wordStarts = new int[words.Count];
            var postingStarts = new int[words.Count + 1];
            var postings = new MemoryStream();
            for (var i = 0; i < words.Count; i++)
            {
                wordStarts[i] = (int)vocabulary.Length;
                vocabulary.Write(Encoding.UTF8.GetBytes(words[i]));
                vocabulary.WriteByte((byte)'\n');
                postingStarts[i] = (int)postings.Length;
                scope[words[i]].WriteTo(postings);
            }
            postingStarts[words.Count] = (int)postings.Length;
            BinaryPrimitives.WriteInt32LittleEndian(four, words.Count);
            output.Write(four);
            BinaryPrimitives.WriteInt32LittleEndian(four, (int)vocabulary.Length);
            output.Write(four);
            vocabulary.Position = 0;
            vocabulary.CopyTo(output);
            foreach (var start in wordStarts)
            {
                BinaryPrimitives.WriteInt32LittleEndian(four, start);
                output.Write(four);
            }
            foreach (var start in postingStarts)
            {
                BinaryPrimitives.WriteInt32LittleEndian(four, start);
                output.Write(four);
            }
            postings.Position = 0;
            postings.CopyTo(output);
        }
        return output.ToArray();
    }

    /// <summary>Ascending UIDs, each once, as LEB128 varints of the differences.</summary>
    private sealed class PostingList
    {
        private byte[] _bytes = new byte[8];
        private int _length;
        private uint _last;
        private bool _any;

        public void Add(uint uid)
        {
            if (_any && uid <= _last)
                return; // the same message again (a term seen twice)
            var delta = _any ? uid - _last : uid;
            _last = uid;
            _any = true;
            if (_length + 5 > _bytes.Length)
                Array.Resize(ref _bytes, _bytes.Length * 2);
            while (delta >= 0x80)
            {
                _bytes[_length++] = (byte)(delta | 0x80);
                delta >>= 7;
            }
            _bytes[_length++] = (byte)delta;
        }

        public void WriteTo(Stream output) => output.Write(_bytes, 0, _length);
    }
}

/// <summary>Reads a segment made by <see cref="IndexSegmentBuilder"/> in place (no copy of the vocabulary).</summary>
internal sealed class IndexSegmentReader
{
    private readonly byte[] _bytes;
    private readonly Scope[] _scopes = new Scope[IndexSegmentBuilder.ScopeCount];

    /// <exception cref="InvalidDataException">Not a segment of this format.</exception>
    public IndexSegmentReader(byte[] bytes)
    {
        _bytes = bytes;
        if (bytes.Length < 8 || !bytes.AsSpan(0, 8).SequenceEqual("MSIXSEG1"u8))
            throw new InvalidDataException("Not a search index segment.");
        var offset = 8;
        for (var s = 0; s < _scopes.Length; s++)
        {
            var words = ReadInt(ref offset);
            var vocabularyLength = ReadInt(ref offset);
            var vocabularyStart = offset;
            offset += vocabularyLength;
            var wordStarts = offset;
            offset += 4 * words;
            var postingStarts = offset;
            offset += 4 * (words + 1);
            if (offset > bytes.Length || words < 0 || vocabularyLength < 0)
                throw new InvalidDataException("A search index segment is cut short.");
            var postingsStart = offset;
            var postingsLength = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(postingStarts + 4 * words));
            offset += postingsLength;
            if (offset > bytes.Length)
                throw new InvalidDataException("A search index segment is cut short.");
            _scopes[s] = new Scope(words, vocabularyStart, vocabularyLength, wordStarts, postingStarts, postingsStart);
        }
    }

    private int ReadInt(ref int offset)
    {
        if (offset + 4 > _bytes.Length)
            throw new InvalidDataException("A search index segment is cut short.");
        var value = BinaryPrimitives.ReadInt32LittleEndian(_bytes.AsSpan(offset));
        offset += 4;
        return value;
    }

    private readonly record struct Scope(int Words, int VocabularyStart, int VocabularyLength, int WordStarts, int PostingStarts, int PostingsStart);

    /// <summary>Calls <paramref name="uid"/> for every message of the segment with a term of <paramref name="scope"/>
    /// that contains <paramref name="folded"/> (UTF-8 of a folded query term).</summary>
    public void Collect(TermScope scope, ReadOnlySpan<byte> folded, Action<uint> uid)
    {
        var s = _scopes[(int)scope];
        var vocabulary = _bytes.AsSpan(s.VocabularyStart, s.VocabularyLength);
        var wordStarts = MemoryMarshal.Cast<byte, int>(_bytes.AsSpan(s.WordStarts, 4 * s.Words));
        var position = 0;
        while (position < vocabulary.Length)
        {
            var found = vocabulary[position..].IndexOf(folded);
            if (found < 0)
                break;
            var at = position + found;
            // The word holding the match: the last word that starts at or before it.
            var word = wordStarts.BinarySearch(at);
            if (word < 0)
                word = ~word - 1;
            ReadPostings(s, word, uid);
            position = word + 1 < s.Words ? wordStarts[word + 1] : vocabulary.Length;
        }
    }

    /// <summary>Every term of a scope with its UIDs (merging).</summary>
    public IEnumerable<(string Word, List<uint> Uids)> Terms(TermScope scope)
    {
        var s = _scopes[(int)scope];
        for (var word = 0; word < s.Words; word++)
        {
            var uids = new List<uint>();
            ReadPostings(s, word, uids.Add);
            yield return (WordAt(s, word), uids);
        }
    }

    private string WordAt(Scope s, int word)
    {
        var wordStarts = MemoryMarshal.Cast<byte, int>(_bytes.AsSpan(s.WordStarts, 4 * s.Words));
        var start = wordStarts[word];
        var end = word + 1 < s.Words ? wordStarts[word + 1] : s.VocabularyLength;
        return Encoding.UTF8.GetString(_bytes, s.VocabularyStart + start, end - start - 1);
    }

    private void ReadPostings(Scope s, int word, Action<uint> uid)
    {
        var starts = MemoryMarshal.Cast<byte, int>(_bytes.AsSpan(s.PostingStarts, 4 * (s.Words + 1)));
        var position = s.PostingsStart + starts[word];
        var end = s.PostingsStart + starts[word + 1];
        uint last = 0;
        while (position < end)
        {
            uint delta = 0;
            var shift = 0;
            byte b;
            do
            {
                b = _bytes[position++];
                delta |= (uint)(b & 0x7F) << shift;
                shift += 7;
            }
            while ((b & 0x80) != 0 && shift < 35);
            last += delta;
            uid(last);
        }
    }
}
