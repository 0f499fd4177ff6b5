from tests.conftest import login


def test_owner_logs_in_and_sees_dashboard(client, owner_a, customer_a):
    login(client, owner_a)
    response = client.get("/")
    assert response.status_code == 200
    assert customer_a.name in response.content.decode()
