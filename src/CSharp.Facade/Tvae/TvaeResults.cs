namespace DistEmbed.Autoencoders;

/// <summary>The loss of one batch of triplets, split into its terms (each unweighted) and the weighted total.</summary>
/// <param name="Total">w_elbo·NegativeElbo + w_triplet·Triplet + w_norm·EmbeddingNorm (the VAE: w_elbo·NegativeElbo).</param>
/// <param name="NegativeElbo">Mean negative ELBO per image over the 3K images (nats).</param>
/// <param name="Triplet">Mean triplet hinge over the K triplets.</param>
/// <param name="EmbeddingNorm">Mean over triplets of ‖μ_a‖ + ‖μ_p‖ + ‖μ_n‖.</param>
public sealed record TvaeLoss(double Total, double NegativeElbo, double Triplet, double EmbeddingNorm);

/// <summary>What <see cref="Tvae.Fit"/> did: per-epoch means of the loss and its terms.</summary>
/// <param name="EpochLoss">Mean total loss of each epoch.</param>
/// <param name="EpochNegativeElbo">Mean negative ELBO per image of each epoch.</param>
/// <param name="EpochTriplet">Mean triplet hinge of each epoch.</param>
/// <param name="Elapsed">Wall time of the call.</param>
public sealed record TvaeTrainingReport(double[] EpochLoss, double[] EpochNegativeElbo, double[] EpochTriplet, TimeSpan Elapsed);

/// <summary>Posterior parameters of a set of images.</summary>
/// <param name="Means">μ, [N, L].</param>
/// <param name="LogVariances">log σ², [N, L].</param>
public sealed record TvaePosteriors(float[,] Means, float[,] LogVariances);

/// <summary>Test-set evaluation of a <see cref="Tvae"/> model (see <see cref="Tvae.Evaluate(float[,], int[], int, int, int)"/>).</summary>
/// <param name="TripletAccuracy">Fraction of the test triplets with d(a, p) &lt; d(a, n) under the model's distance
/// (Euclidean between means for VAE and TVAE, 2-Wasserstein between posteriors for W-TVAE).</param>
/// <param name="TripletAccuracyOfMeans">The same fraction with the Euclidean distance between means, for every variant.</param>
/// <param name="NegativeElbo">Mean negative ELBO per test image (one seeded posterior sample per image, analytic KL), nats.</param>
/// <param name="PrecisionAt1">Precision@1 of the retrieval items under the model's distance, each item a query against the others.</param>
/// <param name="MapAtR">MAP@R [Musgrave et al., ECCV 2020] of the same retrieval.</param>
/// <param name="Distance">"euclidean-means" or "w2-gaussians".</param>
/// <param name="TestImages">Number of test images.</param>
/// <param name="Triplets">Number of test triplets.</param>
/// <param name="TripletSeed">Seed of the test triplets.</param>
/// <param name="RetrievalItems">Number of test images (the first ones) in the retrieval evaluation.</param>
public sealed record TvaeEvaluation(
    double TripletAccuracy,
    double TripletAccuracyOfMeans,
    double NegativeElbo,
    double PrecisionAt1,
    double MapAtR,
    string Distance,
    int TestImages,
    int Triplets,
    int TripletSeed,
    int RetrievalItems);
