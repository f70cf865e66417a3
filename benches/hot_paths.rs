//! Criterion micro-benchmarks of hot paths outside ingest: DIMSE command
//! sets (every C-STORE and every C-FIND response encodes or decodes one)
//! and the query model (every QIDO-RS and C-FIND request becomes SQL).
//!
//! PDUs: a 16 KB P-DATA-TF written and read by the upper layer. Also P-DATA: a 512 KB data set sent by C-STORE over a loopback
//! association with 16 KB PDUs (fragmenting, and reassembly into the
//! stream a store handler reads), against a provider that only counts
//! the bytes.
//!
//! `cargo bench --bench hot_paths`

use criterion::{criterion_group, criterion_main, Criterion};
use dicom_net::command::{Command, CommandField};
use dicom_net::Status;
use storage::query::{Query, QueryLevel};
use storage::Backend;

fn commands(c: &mut Criterion) {
    let mut rq = Command::request(CommandField::CStoreRq, 7, "1.2.840.10008.5.1.4.1.1.2", true);
    rq.affected_sop_instance_uid = Some("2.25.123456789012345678901234567890123456".into());
    let bytes = rq.encode();
    c.bench_function("C-STORE-RQ command encode", |b| b.iter(|| rq.encode()));
    c.bench_function("C-STORE-RQ command decode", |b| {
        b.iter(|| Command::decode(&bytes).expect("valid"))
    });
    let rsp = rq.response(Status::PENDING, true);
    c.bench_function("C-FIND-RSP pending encode", |b| b.iter(|| rsp.encode()));
}

fn pdus(c: &mut Criterion) {
    use dicom_ul::pdu::{PDataValue, PDataValueType};
    let pdu = dicom_ul::Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: 1,
            value_type: PDataValueType::Data,
            is_last: false,
            data: vec![0x5A; 16_372],
        }],
    };
    let mut bytes = Vec::new();
    dicom_ul::write_pdu(&mut bytes, &pdu).expect("encode");
    let mut group = c.benchmark_group("PDU");
    group.throughput(criterion::Throughput::Bytes(bytes.len() as u64));
    group.bench_function("P-DATA-TF 16 KB encode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(bytes.len());
            dicom_ul::write_pdu(&mut out, &pdu).expect("encode");
            out
        })
    });
    group.bench_function("P-DATA-TF 16 KB decode", |b| {
        b.iter(|| {
            dicom_ul::pdu::read_pdu(&bytes[..], 131_072, true)
                .expect("decode")
                .expect("a whole PDU")
        })
    });
    group.finish();
}

fn queries(c: &mut Criterion) {
    let params: Vec<(String, String)> = [
        ("PatientName", "NGUYEN*"),
        ("StudyDate", "20240101-20241231"),
        ("ModalitiesInStudy", "CT"),
        ("limit", "100"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    c.bench_function("QIDO-RS query string to SQL", |b| {
        b.iter(|| {
            let q = Query::from_qido(QueryLevel::Study, &params).expect("valid");
            q.query.select_sql(Backend::Postgres)
        })
    });
}

/// DIMSE services that accept every store and keep nothing.
struct Sink;

mod sink {
    use dicom_net::service::*;

    impl Associations for super::Sink {
        fn check_association(
            &self,
            _: &AssociationRequest<'_>,
        ) -> Result<(), dicom_ul::pdu::AssociationRJServiceUserReason> {
            Ok(())
        }
    }

    impl Echo for super::Sink {
        async fn echo(&self, _: &AssociationInfo) -> Response {
            Response::success()
        }
    }

    impl Store for super::Sink {
        async fn store(
            &self,
            _: &AssociationInfo,
            _: StoreRequest,
            mut data: DataStream,
        ) -> Response {
            let mut n = 0;
            while let Some(Ok(b)) = data.recv().await {
                n += b.len();
            }
            std::hint::black_box(n);
            Response::success()
        }
    }

    impl Find for super::Sink {
        async fn find(
            &self,
            _: &AssociationInfo,
            _: QueryRequest,
            _: tokio::sync::mpsc::Sender<dicom_object::InMemDicomObject>,
        ) -> Response {
            Response::success()
        }
    }

    impl Retrieve for super::Sink {
        async fn load(
            &self,
            _: &AssociationInfo,
            _: &RetrieveItem,
        ) -> Result<bytes::Bytes, String> {
            Err("nothing stored".into())
        }
    }

    impl Move for super::Sink {
        async fn move_destination(
            &self,
            _: &AssociationInfo,
            _: &str,
        ) -> Result<std::net::SocketAddr, Response> {
            Err(Response::with(
                dicom_net::Status::MOVE_DESTINATION_UNKNOWN,
                "none",
            ))
        }

        async fn select_move(
            &self,
            _: &AssociationInfo,
            _: QueryRequest,
        ) -> Result<Vec<RetrieveItem>, Response> {
            Ok(Vec::new())
        }
    }

    impl Get for super::Sink {
        async fn select_get(
            &self,
            _: &AssociationInfo,
            _: QueryRequest,
        ) -> Result<Vec<RetrieveItem>, Response> {
            Ok(Vec::new())
        }
    }

    fn unsupported() -> dicom_net::service::NormalizedResponse {
        Response::with(dicom_net::Status::NO_SUCH_SOP_CLASS, "none").into()
    }

    impl dicom_net::service::Mpps for super::Sink {
        async fn n_create(
            &self,
            _: &AssociationInfo,
            _: dicom_net::service::NormalizedRequest,
        ) -> dicom_net::service::NormalizedResponse {
            unsupported()
        }

        async fn n_set(
            &self,
            _: &AssociationInfo,
            _: dicom_net::service::NormalizedRequest,
        ) -> dicom_net::service::NormalizedResponse {
            unsupported()
        }
    }

    impl dicom_net::service::Commitment for super::Sink {
        async fn n_action(
            &self,
            _: &AssociationInfo,
            _: dicom_net::service::NormalizedRequest,
        ) -> (dicom_net::service::NormalizedResponse, Option<i64>) {
            (unsupported(), None)
        }

        async fn report(
            &self,
            _: &AssociationInfo,
            _: i64,
        ) -> Option<dicom_net::service::EventReport> {
            None
        }

        async fn reported(
            &self,
            _: &AssociationInfo,
            _: i64,
            _: Result<dicom_net::Status, String>,
        ) {
        }
    }
    impl dicom_net::service::Print for super::Sink {
        async fn print(
            &self,
            _: &AssociationInfo,
            _: &str,
            _: dicom_net::service::NormalizedOperation,
            _: dicom_net::service::NormalizedRequest,
        ) -> dicom_net::service::NormalizedResponse {
            unsupported()
        }

        async fn print_closed(&self, _: &AssociationInfo) {}
    }
}

fn p_data(c: &mut Criterion) {
    const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stop = tokio_util::sync::CancellationToken::new();
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let config = dicom_net::scp::ScpConfig {
            ae_title: "SINK".into(),
            max_pdu_length: 16_384,
            ..Default::default()
        };
        tokio::spawn(dicom_net::scp::serve(
            listener,
            config,
            std::sync::Arc::new(Sink),
            stop.clone(),
        ));
        addr
    });
    let mut assoc = rt
        .block_on(dicom_net::scu::ScuAssociation::connect(
            &dicom_net::scu::ScuOptions {
                calling_ae: "BENCH".into(),
                called_ae: "SINK".into(),
                addr,
                max_pdu_length: 16_384,
                timeout: std::time::Duration::from_secs(30),
            },
            &[(CT.to_owned(), vec![EXPLICIT_LE.to_owned()])],
        ))
        .expect("associate");
    let pc = assoc.accepted().into_iter().next().expect("accepted");
    let data_set = vec![0x5Au8; 512 * 1024];
    let mut group = c.benchmark_group("P-DATA");
    group.throughput(criterion::Throughput::Bytes(data_set.len() as u64));
    group.bench_function("C-STORE 512 KB, 16 KB PDUs, loopback", |b| {
        b.iter(|| {
            let rsp = rt
                .block_on(assoc.store(&pc, "1.2.3.4", &data_set, None))
                .expect("store");
            assert!(!rsp.status.is_failure());
        })
    });
    group.finish();
    let _ = rt.block_on(assoc.release());
    stop.cancel();
}

criterion_group!(benches, commands, pdus, queries, p_data);
criterion_main!(benches);
