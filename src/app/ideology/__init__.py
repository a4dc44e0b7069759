"""Ideology subsystem (V5.5 §3): one reference, an actors skeleton per dataset, views derived from both.

- `reference`     — load and check `conf/ideology/ideology.yaml`; place a document's group/orientation;
- `skeleton`      — `stage=skeleton`: the actors of a dataset, their counts and the label the reference
                    implies (`actors_counts_<corpus>.tsv`, `ideology_actors_skeleton.yaml`);
- `derive_views`  — `stage=derive_views`: reference + (completed) actors file -> the views
                    `ideology_global`, `ideology_left_intra`, `ideology_right_intra`, `ideology_actors`,
                    and a conflicts file.
"""
