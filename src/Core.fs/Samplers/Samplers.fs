namespace DistEmbed.Core

open System

/// <summary>Triplets of data-set indices (anchor, positive, negative), three arrays of one length K.</summary>
[<Sealed>]
type SampledTriplets(anchor: int[], positive: int[], negative: int[]) =
    /// <summary>Anchor indices [K].</summary>
    member _.Anchor = anchor
    /// <summary>Positive indices [K] (same label as the anchor, a different item).</summary>
    member _.Positive = positive
    /// <summary>Negative indices [K] (a label different from the anchor's).</summary>
    member _.Negative = negative
    /// <summary>The number of triplets K.</summary>
    member _.Count = anchor.Length

/// <summary>
/// Samplers: pure, deterministic index generation over a labelled data set (labels [N]); the same labels, seed and
/// epoch give the same indices on every machine (System.Random with an explicit seed uses a fixed algorithm).
/// </summary>
[<RequireQualifiedAccess>]
module Samplers =

    /// SplitMix64 finaliser of (seed, epoch): a seed for System.Random that differs for every (seed, epoch) pair.
    let private mix (seed: int) (epoch: int) =
        let mutable z = (uint64 (uint32 seed) <<< 32) ||| uint64 (uint32 epoch)
        z <- z + 0x9E3779B97F4A7C15UL
        z <- (z ^^^ (z >>> 30)) * 0xBF58476D1CE4E5B9UL
        z <- (z ^^^ (z >>> 27)) * 0x94D049BB133111EBUL
        z <- z ^^^ (z >>> 31)
        int (z &&& 0x7FFFFFFFUL)

    /// The members of each class, classes in increasing label order, members in index order.
    let private classes (labels: int64[]) =
        labels
        |> Array.mapi (fun i y -> y, i)
        |> Array.groupBy fst
        |> Array.sortBy fst
        |> Array.map (fun (y, members) -> y, members |> Array.map snd)

    /// The first k entries of a Fisher–Yates shuffle of a copy of items.
    let private choose (random: Random) (k: int) (items: int[]) =
        let a = Array.copy items
        for i in 0 .. k - 1 do
            let j = random.Next(i, a.Length)
            let t = a.[i]
            a.[i] <- a.[j]
            a.[j] <- t
        Array.sub a 0 k

    /// <summary>
    /// One epoch of M-per-class batches: each batch holds P distinct classes × M items of each, P·M indices, the M
    /// items of a class contiguous.
    /// </summary>
    /// <remarks>
    /// <para>The epoch has max(1, ⌊N / (P·M)⌋) batches. In each batch the P classes are drawn uniformly without
    /// replacement; from a class with at least M items, M distinct items are drawn uniformly; a class with fewer than
    /// M items contributes each of its items once and fills the rest by drawing uniformly from it with replacement
    /// (so a batch always has exactly P·M indices, with repeats in that class only). This is the sampler of
    /// pytorch-metric-learning's <c>MPerClassSampler</c> and the P×K batches of Hermans et al. [1, §3.3].</para>
    /// <para>Deterministic: the draws use System.Random seeded from (seed, epoch) through SplitMix64.</para>
    /// <para>[1] A. Hermans, L. Beyer, B. Leibe, "In Defense of the Triplet Loss for Person Re-Identification", arXiv 1703.07737, 2017, §3.3.</para>
    /// </remarks>
    /// <param name="labels">The data set's labels [N], N ≥ 1.</param>
    /// <param name="classesPerBatch">P ≥ 1, at most the number of distinct labels.</param>
    /// <param name="itemsPerClass">M ≥ 1.</param>
    /// <param name="seed">The seed.</param>
    /// <param name="epoch">The epoch number ≥ 0 (each epoch draws differently).</param>
    /// <returns>The batches, each an array of P·M data-set indices.</returns>
    /// <exception cref="T:System.ArgumentException">Labels null or empty, P &lt; 1 or more than the classes, M &lt; 1, epoch &lt; 0.</exception>
    [<CompiledName("MPerClassEpoch")>]
    let mPerClassEpoch (labels: int64[], classesPerBatch: int, itemsPerClass: int, seed: int, epoch: int) : int[][] =
        Validation.nonEmpty "labels" labels
        Validation.atLeastInt "classesPerBatch" 1 classesPerBatch
        Validation.atLeastInt "itemsPerClass" 1 itemsPerClass
        Validation.atLeastInt "epoch" 0 epoch
        let byClass = classes labels |> Array.map snd
        if classesPerBatch > byClass.Length then
            Validation.fail "classesPerBatch" $"classesPerBatch = {classesPerBatch} but labels hold only {byClass.Length} classes."
        let random = Random(mix seed epoch)
        let batchCount = max 1 (labels.Length / (classesPerBatch * itemsPerClass))
        Array.init batchCount (fun _ ->
            choose random classesPerBatch [| 0 .. byClass.Length - 1 |]
            |> Array.collect (fun c ->
                let members = byClass.[c]
                if members.Length >= itemsPerClass then choose random itemsPerClass members
                else
                    let all = choose random members.Length members
                    Array.append all (Array.init (itemsPerClass - members.Length) (fun _ -> members.[random.Next(members.Length)]))))

    /// <summary>
    /// Random triplets as in the triplet-based VAE [1, §3]: an anchor drawn uniformly among the items whose class has at
    /// least two items, a positive drawn uniformly from the other items of its class, a negative drawn uniformly from
    /// the items of the other classes.
    /// </summary>
    /// <remarks>
    /// <para>Each triplet is drawn independently (with replacement across triplets). Deterministic for a seed.</para>
    /// <para>[1] H. Ishfaq, A. Hoogi, D. Rubin, "TVAE: Triplet-Based Variational Autoencoder using Metric Learning", arXiv 1802.04403, 2018, §3.</para>
    /// </remarks>
    /// <param name="labels">The data set's labels [N]: at least two classes and one class with two or more items.</param>
    /// <param name="count">K ≥ 1, the number of triplets.</param>
    /// <param name="seed">The seed.</param>
    /// <returns>K triplets of data-set indices.</returns>
    /// <exception cref="T:System.ArgumentException">Labels null, with a single class or with no class of two items; K &lt; 1.</exception>
    [<CompiledName("TvaeTriplets")>]
    let tvaeTriplets (labels: int64[], count: int, seed: int) : SampledTriplets =
        Validation.nonEmpty "labels" labels
        Validation.atLeastInt "count" 1 count
        let byClass = classes labels
        if byClass.Length < 2 then
            Validation.fail "labels" $"labels hold a single class ({fst byClass.[0]}); a negative needs a second class."
        let eligible = [| for _, members in byClass do if members.Length >= 2 then yield! members |]
        if eligible.Length = 0 then
            Validation.fail "labels" "labels hold no class with two items; a positive needs a second item of the anchor's class."
        // The items sorted by class (each class a contiguous block), so a uniform draw among the other classes is
        // one draw over N − |class| slots that skips the anchor's block.
        let sorted = byClass |> Array.collect snd
        let block = Collections.Generic.Dictionary<int64, struct (int * int[])>()
        let mutable start = 0
        for y, members in byClass do
            block.[y] <- struct (start, members)
            start <- start + members.Length
        let random = Random(seed)
        let anchor = Array.zeroCreate count
        let positive = Array.zeroCreate count
        let negative = Array.zeroCreate count
        for k in 0 .. count - 1 do
            let a = eligible.[random.Next(eligible.Length)]
            let struct (first, same) = block.[labels.[a]]
            // A uniform draw among the other members: pick among |class| − 1 slots and map the anchor's slot to the last.
            let j = random.Next(same.Length - 1)
            let p = if same.[j] = a then same.[same.Length - 1] else same.[j]
            let r = random.Next(labels.Length - same.Length)
            let n = if r < first then sorted.[r] else sorted.[r + same.Length]
            anchor.[k] <- a
            positive.[k] <- p
            negative.[k] <- n
        SampledTriplets(anchor, positive, negative)
