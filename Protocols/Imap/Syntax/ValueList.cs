using System.Collections;

namespace MailServer.Protocols.Imap.Syntax;

/// <summary>
/// An immutable list with structural equality, so that command records holding lists compare by content
/// (two parses of the same command are equal records).
/// </summary>
/// <typeparam name="T">The element type; its own <see cref="object.Equals(object)"/> decides element equality.</typeparam>
public sealed class ValueList<T> : IReadOnlyList<T>, IEquatable<ValueList<T>>
{
    private readonly T[] _items;

    /// <summary>The empty list.</summary>
    public static ValueList<T> Empty { get; } = new(Array.Empty<T>());

    /// <summary>Creates a list holding a copy of <paramref name="items"/>.</summary>
    public ValueList(IEnumerable<T> items) => _items = items.ToArray();

    private ValueList(T[] items) => _items = items;

    /// <inheritdoc />
    public T this[int index] => _items[index];

    /// <inheritdoc />
    public int Count => _items.Length;

    /// <inheritdoc />
    public IEnumerator<T> GetEnumerator() => ((IEnumerable<T>)_items).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _items.GetEnumerator();

    /// <inheritdoc />
    public bool Equals(ValueList<T>? other) =>
        other is not null && _items.AsSpan().SequenceEqual(other._items, EqualityComparer<T>.Default);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as ValueList<T>);

    /// <inheritdoc />
    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var item in _items)
        {
            hash.Add(item);
        }
        return hash.ToHashCode();
    }

    /// <summary>Renders the items as <c>[a, b, c]</c> for diagnostics and test failure messages.</summary>
    public override string ToString() => "[" + string.Join(", ", _items) + "]";

    /// <summary>Creates a list from the given items.</summary>
    public static ValueList<T> Of(params T[] items) => items.Length == 0 ? Empty : new ValueList<T>((T[])items.Clone());

    internal static ValueList<T> Wrap(List<T> items) => items.Count == 0 ? Empty : new ValueList<T>(items.ToArray());
}

/// <summary>Shorthand factory for <see cref="ValueList{T}"/>.</summary>
public static class ValueList
{
    /// <summary>Creates a list from the given items.</summary>
    public static ValueList<T> Of<T>(params T[] items) => ValueList<T>.Of(items);
}
