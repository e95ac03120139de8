namespace SqueezeNative.Runtime.Tokenization;

/// <summary>
/// A tokenizer.json "post_processor": adds the special tokens around an encoded sequence when the
/// caller asks for special tokens. Only the ids matter here (offsets and type ids are not kept).
/// </summary>
internal interface IPostProcessor
{
    List<int> Process(List<int> ids, bool addSpecialTokens);
}

/// <summary><c>Sequence</c>: the processors in order.</summary>
internal sealed class SequencePostProcessor(IReadOnlyList<IPostProcessor> processors) : IPostProcessor
{
    public List<int> Process(List<int> ids, bool addSpecialTokens)
    {
        foreach (var processor in processors)
            ids = processor.Process(ids, addSpecialTokens);
        return ids;
    }
}

/// <summary><c>ByteLevel</c> as a post-processor only trims offsets: ids pass through.</summary>
internal sealed class IdentityPostProcessor : IPostProcessor
{
    public List<int> Process(List<int> ids, bool addSpecialTokens) => ids;
}

/// <summary>
/// <c>TemplateProcessing</c> with its "single" template: each item is either special-token ids or
/// the sequence itself ("$A"). <c>RobertaProcessing</c>/<c>BertProcessing</c> are the template
/// [cls] $A [sep].
/// </summary>
internal sealed class TemplatePostProcessor : IPostProcessor
{
    /// <summary>Template items in order; null stands for the sequence.</summary>
    private readonly IReadOnlyList<int[]?> _items;

    public TemplatePostProcessor(IReadOnlyList<int[]?> items)
    {
        _items = items;
    }

    public List<int> Process(List<int> ids, bool addSpecialTokens)
    {
        if (!addSpecialTokens)
            return ids;
        var result = new List<int>(ids.Count + 4);
        foreach (var item in _items)
        {
            if (item is null)
                result.AddRange(ids);
            else
                result.AddRange(item);
        }
        return result;
    }
}
