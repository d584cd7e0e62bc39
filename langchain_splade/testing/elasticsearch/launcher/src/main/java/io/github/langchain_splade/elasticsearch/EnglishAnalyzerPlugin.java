package io.github.langchain_splade.elasticsearch;

import java.util.Map;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.en.EnglishAnalyzer;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.Analysis;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * The {@code english} analyzer (Lucene's {@link EnglishAnalyzer}: standard tokenizer, possessive
 * and lower-case filters, English stop words, Porter stemming), as the distribution's
 * analysis-common module registers it, with its {@code stopwords} and {@code stem_exclusion}
 * options. analysis-common is not published on Maven Central.
 */
public final class EnglishAnalyzerPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        return Map.of("english", (indexSettings, environment, name, settings) ->
                new AbstractIndexAnalyzerProvider<EnglishAnalyzer>(name) {
                    private final EnglishAnalyzer analyzer = new EnglishAnalyzer(
                            Analysis.parseStopWords(environment, settings, EnglishAnalyzer.getDefaultStopSet()),
                            Analysis.parseStemExclusion(settings, org.apache.lucene.analysis.CharArraySet.EMPTY_SET));

                    @Override
                    public EnglishAnalyzer get() {
                        return analyzer;
                    }
                });
    }
}
